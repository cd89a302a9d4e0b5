"""Shared pytest configuration: the fixtures live in tests/fixtures/, one module per real part."""

pytest_plugins = [
    "tests.fixtures.emulators",
    "tests.fixtures.postgres",
    "tests.fixtures.cluster",
]

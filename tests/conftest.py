"""Shared pytest configuration: the fixtures live in tests/fixtures/, one module per real part."""

pytest_plugins = [
    "tests.fixtures.emulators",
    "tests.fixtures.postgres",
    "tests.fixtures.proxy",
    "tests.fixtures.world",
    "tests.fixtures.cluster",
]

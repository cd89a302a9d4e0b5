"""The Simple-Simon emulator: api/simon.md section 5 over HTTP, for tests, benchmarks and
`simon-visma emulate`. Every Simon wire detail on the emulator side lives in this package."""

from emulators.simon.auth import DEFAULT_LICENSE_KEY, DEFAULT_PASSWORD, DEFAULT_USER
from emulators.simon.emulator import API_KEY_HEADER, TOKEN_HEADER, SimonEmulator

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_LICENSE_KEY",
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "TOKEN_HEADER",
    "SimonEmulator",
]

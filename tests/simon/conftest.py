"""Fixtures for the Simon tests: raw HTTP access with a token, and SimonClients pointed at
the `emulators` fixture (real HTTP, fast retries, a sleep that records instead of waiting)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from emulators.server import EmulatorServer
from emulators.simon import DEFAULT_LICENSE_KEY, DEFAULT_PASSWORD, DEFAULT_USER, SimonEmulator
from reconcilers.clients.simon import SimonClient
from tests.fixtures.emulators import FAST


@pytest.fixture
def simon(emulators: EmulatorServer) -> SimonEmulator:
    return emulators.simon


class RecordingSleep:
    """Records the delays a client asks for and yields to the loop without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(emulators: EmulatorServer,
                sleep: RecordingSleep) -> Callable[..., SimonClient]:
    """`make_client(**overrides)`: a SimonClient on the emulator with the default login."""

    def make(**overrides: Any) -> SimonClient:
        kwargs: dict[str, Any] = {
            "url": emulators.simon_url, "license_key": DEFAULT_LICENSE_KEY,
            "username": DEFAULT_USER, "password": DEFAULT_PASSWORD, "policy": FAST,
            "sleep": sleep,
        }
        kwargs.update(overrides)
        return SimonClient(**kwargs)

    return make


@pytest.fixture
def http(emulators: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the Simon root, logged in with the default login."""
    with httpx.Client(base_url=emulators.simon_url + "/", timeout=10) as client:
        answer = client.post("token", json={"Key": DEFAULT_LICENSE_KEY, "Usr": DEFAULT_USER,
                                            "Pwd": DEFAULT_PASSWORD})
        assert answer.status_code == 200, answer.text
        client.headers["Token"] = answer.json()["Token"]
        yield client

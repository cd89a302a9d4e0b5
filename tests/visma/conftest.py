"""Helpers for the Visma.net tests: a client against the emulator over real HTTP, a sleep that
records backoff waits instead of waiting, and raw-request helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from emulators.server import EmulatorServer
from emulators.visma import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID
from reconcilers.clients.visma import VismaClient
from tests.fixtures.emulators import FAST

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class RecordingSleep:
    """Stands in for asyncio.sleep in the client: records each wait, waits not at all."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(emulators: EmulatorServer, sleep: RecordingSleep
                ) -> Callable[..., VismaClient]:
    """`make_client(**overrides)` -> a VismaClient for the emulator's default tenant."""

    def make(**overrides: Any) -> VismaClient:
        options: dict[str, Any] = {
            "tenant_id": DEFAULT_TENANT_ID,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "token_url": emulators.url + "/connect/token",
            "api_url": emulators.url,
            "sales_order_url": emulators.url,
            "policy": FAST,
            "sleep": sleep,
        }
        options.update(overrides)
        return VismaClient(**options)

    return make


def token(emulators: EmulatorServer, **form: str) -> str:
    data = {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET, "tenant_id": DEFAULT_TENANT_ID}
    data.update(form)
    response = httpx.post(emulators.url + "/connect/token", data=data)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class Raw:
    """Plain httpx calls with a token, for checking wire shapes."""

    def __init__(self, emulators: EmulatorServer) -> None:
        self.base = emulators.url
        self.headers = {"Authorization": f"Bearer {token(emulators)}"}

    def get(self, path: str, params: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base + path, headers=self.headers, **kwargs)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.base + path,
                             headers={**self.headers, **(headers or {})}, **kwargs)


@pytest.fixture
def raw(emulators: EmulatorServer) -> Raw:
    return Raw(emulators)


def seed_basics(emulators: EmulatorServer) -> None:
    """A small, known company: customers 10001-10003, items, warehouses, order types."""

    def seed() -> None:
        visma = emulators.visma
        visma.add_warehouse("MAIN", "Hoofdmagazijn")
        visma.add_warehouse("BUS1", "Servicebus 1")
        visma.add_warehouse("OUD", "Oud", active=False)
        visma.add_order_type("SO", "Verkooporder")
        visma.add_order_type("QT", "Offerte", behavior="Quote")
        visma.add_customer("10001", "Jansen Installatietechniek B.V.",
                           address={"addressLine1": "Kerkstraat 1", "postalCode": "1011 AB",
                                    "city": "Amsterdam", "country": "NL"},
                           email="jan@jansen.example", phone="020-1234567")
        visma.add_customer("10002", "Bakker Loodgieters", status="Inactive")
        visma.add_customer("10003", "De Vries Elektro", status="OnHold")
        visma.add_item("UUR", "Arbeid (per uur)", type="LaborItem", base_unit="UUR",
                       default_price=62.5)
        visma.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem", default_price=35)
        visma.add_item("KRAAN", "Mengkraan", type="FinishedGoodItem", default_price=120)
        visma.add_item("OUDJE", "Vervallen artikel", status="Inactive")

    emulators.call(seed)

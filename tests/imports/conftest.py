"""Fixtures for the S-60 import tests: both emulators over real HTTP, an emulator-backed
tenant (the shared `World` of tests/fixtures/world.py, whose runs are built the way the CLI
builds them) on a store on SQLite and PostgreSQL, and a small Visma.net company."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulators.server import EmulatorServer
from reconcilers.loops.imports import ImportResult, OrderImport
from reconcilers.loops.masterdata import MasterDataResult, MasterDataSync
from reconcilers.resource.spec import Imports
from reconcilers.store import TenantState
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import opened_world

JANSEN_ADDRESS = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB",
                  "city": "Amsterdam", "country": "NL"}
DE_VRIES_ADDRESS = {"addressLine1": "Dorpsweg 3", "postalCode": "3511 CD", "city": "Utrecht",
                    "country": "NL"}


def imports(sales_orders: dict[str, Any] | None = None,
            quotes: dict[str, Any] | None = None) -> Imports:
    """Import settings as written in the resource (camelCase keys)."""
    return Imports.model_validate({"salesOrders": sales_orders or {"enabled": False},
                                   "quotes": quotes or {"enabled": False}})


SO_ONLY = imports({"enabled": True, "filterWord": "SIMON"})


def spec_of(settings: Imports) -> dict[str, Any]:
    """The spec change that gives a tenant these import settings."""
    return {"imports": settings.model_dump(mode="json", by_alias=True, exclude_none=True)}


class World(BaseWorld):
    """One tenant wired to the emulators: its clients, its state and seeding helpers."""

    async def prepare(self) -> None:
        seed_company(self.emulators)

    async def import_orders(self, settings: Imports = SO_ONLY,
                            state: TenantState | None = None) -> ImportResult:
        main = self.main
        return await OrderImport(main.visma, main.simon, state or main.state, settings).run()

    async def master_data(self) -> MasterDataResult:
        return await MasterDataSync(self.main.visma, self.main.simon, self.main.state).run()

    def add_order(self, customer: str = "10001", description: str = "Onderhoud SIMON", *,
                  order_type: str = "SO", note: str | None = None, ref_no: str | None = None,
                  lines: list[dict[str, Any]] | None = None) -> str:
        """Create an order in Visma.net (as if POSTed); returns its order id."""
        command: dict[str, Any] = {"type": order_type, "customer": {"id": customer},
                                   "description": description}
        if ref_no is not None:
            command["customer"]["refNo"] = ref_no
        if note is not None:
            command["note"] = note
        if lines:
            command["orderLines"] = copy.deepcopy(lines)
        order = self.emulators.call(self.emulators.visma.add_sales_order, command)
        return order.order_id

    def add_customer(self, number: str, name: str, address: dict[str, Any] | None = None
                     ) -> int:
        dto = self.emulators.call(self.emulators.visma.add_customer, number, name,
                                  address=address)
        return int(dto["internalId"])

    def work_orders(self) -> list[dict[str, Any]]:
        return self.emulators.call(self.emulators.simon.list, "workorder")

    def used_items(self, work_order_id: int) -> list[dict[str, Any]]:
        rows = self.emulators.call(self.emulators.simon.list, "useditem")
        return [row for row in rows if row["WorkOrderId"] == work_order_id]

    def simon_record(self, table: str, ext_key: str) -> dict[str, Any] | None:
        return self.emulators.call(self.emulators.simon.by_ext_key, table, ext_key)


def seed_company(emulators: EmulatorServer) -> None:
    """A small Visma.net company: order types, two customers with an address, one without,
    non-stock items (mirrored to Simon) and a stock item (not mirrored, S-12)."""

    def seed() -> None:
        visma = emulators.visma
        visma.add_warehouse("MAIN", "Hoofdmagazijn")
        visma.add_order_type("SO", "Verkooporder")
        visma.add_order_type("QT", "Offerte", behavior="Quote")
        visma.add_customer("10001", "Jansen Installatietechniek B.V.", address=JANSEN_ADDRESS)
        visma.add_customer("10002", "De Vries Elektro", address=DE_VRIES_ADDRESS)
        visma.add_customer("10004", "Zonder Adres")
        visma.add_item("UUR", "Arbeid (per uur)", type="LaborItem", base_unit="UUR",
                       default_price=62.5)
        visma.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem", default_price=35)
        visma.add_item("KRAAN", "Mengkraan", type="FinishedGoodItem", default_price=120)

    emulators.call(seed)


@pytest.fixture
async def world(emulators: EmulatorServer, database_url: str) -> AsyncIterator[World]:
    async with opened_world(emulators, database_url, kind=World) as made:
        yield made

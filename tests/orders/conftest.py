"""Fixtures for the S-40 .. S-51 tests: archived Simon work orders pushed to Visma.net over real
HTTP, both emulators in this process (the `emulators` fixture), a store on SQLite and
PostgreSQL (`database_url`).

`world` is an activated tenant (the shared `World` of tests/fixtures/world.py, whose runs
are built the way the CLI builds them) whose master data has been synchronised once, so
Simon holds the customers, work addresses and items the way the integration makes them.
Tests make work orders in Simon with `world.work_order(...)`, run a pass with
`world.push(**order settings)` and read back exactly what Visma.net received.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from emulators.server import EmulatorServer
from emulators.simon.data import data_uri, tiny_png
from reconcilers.loops.masterdata import MasterDataSync
from reconcilers.loops.orders import OrdersLoop, OrdersResult, marker_of
from reconcilers.runtime.runner import LoopOutcome
from reconcilers.store import Store
from tests.fixtures.proxy import RecordingProxy
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import opened_world, result_of

JANSEN = "10001"
DE_VRIES = "10002"
JANSEN_NAME = "Jansen Installatietechniek B.V."
DE_VRIES_NAME = "De Vries Elektro"
JANSEN_ADDRESS = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB",
                  "city": "Amsterdam", "country": "NL"}
DE_VRIES_ADDRESS = {"addressLine1": "Dorpsweg 3", "postalCode": "3511 CD", "city": "Utrecht",
                    "country": "NL"}
JANSEN_ONE_LINE = "Kerkstraat 12 A, 1011 AB Amsterdam"

# Simon users (S-50): two with an e-mail address, one known only by name.
JAN = ("Jan Bakker", "jan@acme.example")
PIET = ("Piet Zonder Mail", None)
KEES = ("Kees de Monteur", "kees@acme.example")

BASE_ORDERS: dict[str, Any] = {
    "documentType": "SalesOrder",
    "defaultWarehouse": "MAIN",
    "note": "None",
    "customerReference": "None",
    "attachments": "None",
}
"""The order settings every test starts from: a sales order with nothing optional; each test
switches on what it checks (camelCase, as written in the resource)."""

LOOSE_LOCATION = {"Street": "Havenweg", "HouseNumber": "1", "PostalCode": "1234 AB",
                  "City": "Zaandam"}

ACTION_CUSTOMER = "Link the work order to a customer from Visma.net"


def seed_company(emulators: EmulatorServer) -> None:
    """A small Visma.net company: the SO order type, warehouses, customers with an address,
    the hour items and a few materials (all non-stock, so mirrored to Simon)."""

    def seed() -> None:
        visma = emulators.visma
        visma.add_order_type("SO", "Verkooporder")
        visma.add_order_type("QT", "Offerte", behavior="Quote")
        for warehouse, description in (("MAIN", "Hoofdmagazijn"), ("BUS1", "Servicebus 1"),
                                       ("BUS2", "Servicebus 2")):
            visma.add_warehouse(warehouse, description)
        visma.add_customer(JANSEN, JANSEN_NAME, address=JANSEN_ADDRESS)
        visma.add_customer(DE_VRIES, DE_VRIES_NAME, address=DE_VRIES_ADDRESS)
        visma.add_item("UUR", "Arbeid (per uur)", type="LaborItem", base_unit="UUR",
                       default_price=62.5)
        visma.add_item("REIS", "Reistijd (per uur)", type="LaborItem", base_unit="UUR",
                       default_price=45)
        visma.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem", default_price=35)
        visma.add_item("KABEL", "Installatiekabel 2,5 mm2", type="NonStockItem",
                       base_unit="M", default_price=1.2)
        visma.add_item("KRAAN", "Thermostaatkraan", type="NonStockItem", default_price=39.95)

    emulators.call(seed)


def seed_users(emulators: EmulatorServer) -> dict[str, int]:
    """The Simon users by name."""

    def seed() -> dict[str, int]:
        return {name: emulators.simon.seed("user", Name=name, Email=email, Kind="Field")["Id"]
                for name, email in (JAN, PIET, KEES)}

    return emulators.call(seed)


def orders_settings(**changes: Any) -> dict[str, Any]:
    """`BASE_ORDERS` with `changes`; a change to None removes the setting."""
    settings = {**BASE_ORDERS, **changes}
    return {k: v for k, v in settings.items() if v is not None}


@dataclass
class Document:
    """One document as Visma.net received it: the exact request body and its files."""

    kind: str  # "SalesOrder" or "Invoice"
    number: str  # order id or invoice reference number
    order_type: str | None
    body: dict[str, Any]
    raw: str
    attachments: dict[str, bytes] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)

    @property
    def marker(self) -> str | None:
        if self.kind == "SalesOrder":
            return self.body.get("customer", {}).get("order")
        return (self.body.get("externalReference") or {}).get("value")

    @property
    def lines(self) -> list[dict[str, Any]]:
        return self.body.get("orderLines" if self.kind == "SalesOrder" else "invoiceLines", [])


def pdf_text(content: bytes) -> str:
    """All text of a PDF, read back with pypdf (which also proves it is a valid PDF)."""
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


class World(BaseWorld):
    """One activated tenant wired to the emulators, with its store and seeding helpers."""

    def __init__(self, emulators: EmulatorServer, store: Store,
                 proxy: RecordingProxy | None = None) -> None:
        super().__init__(emulators, store, proxy)
        self.users: dict[str, int] = {}
        """Simon user Id by name."""
        self.customers: dict[str, int] = {}
        """Simon customer Id by Visma.net customer number."""
        self.locations: dict[str, int] = {}
        """Simon main work address Id by Visma.net customer number."""
        self.items: dict[str, int] = {}
        """Simon item Id by Visma.net item number."""
        self.activated_at: datetime | None = None

    async def prepare(self) -> None:
        """The company and Simon's users, the first activation and one master-data pass."""
        seed_company(self.emulators)
        self.users = seed_users(self.emulators)
        activation = await self.main.activate()
        assert activation.settings.valid, activation.settings.problems
        self.activated_at = await self.state.activation.earliest_archive_time()
        await self.master_data()

    def start(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The emulators' tenant with `BASE_ORDERS` as its order settings."""
        return {**spec, "orders": orders_settings()}

    # --- running passes ------------------------------------------------------------------

    async def push(self, **orders: Any) -> LoopOutcome:
        """One orders pass as the CLI makes it, with these order settings (on top of
        `BASE_ORDERS`; a setting changed to None is removed): the settings check, then the
        loop."""
        run = self.run({"orders": orders})
        await run.activate()
        return await run.run_loop(OrdersLoop())

    async def master_data(self) -> None:
        await MasterDataSync(self.main.visma, self.main.simon, self.main.state).run()
        self._learn_simon_ids()

    def _learn_simon_ids(self) -> None:
        def read() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
            visma, simon = self.emulators.visma, self.emulators.simon
            customers, locations, items = {}, {}, {}
            for number, internal_id in visma.company().customer_numbers.items():
                customer = simon.by_ext_key("customer", str(internal_id))
                location = simon.by_ext_key("location", f"{internal_id}/main")
                if customer:
                    customers[number] = customer["Id"]
                if location:
                    locations[number] = location["Id"]
            for number, inventory_id in visma.company().item_numbers.items():
                item = simon.by_ext_key("item", str(inventory_id))
                if item:
                    items[number] = item["Id"]
            return customers, locations, items

        self.customers, self.locations, self.items = self.emulators.call(read)

    # --- Simon ----------------------------------------------------------------------------

    def seed(self, table: str, **fields: Any) -> dict[str, Any]:
        return self.emulators.call(self.emulators.simon.seed, table, **fields)

    def simon_item(self, code: str, description: str, price: float | None = None) -> int:
        """An item made in Simon itself (empty ExtKey): not from Visma.net."""
        return self.seed("item", Code=code, Description=description, Price=price)["Id"]

    def loose_location(self, name: str = "Bouwplaats Havenweg") -> int:
        """A work address without a customer."""
        return self.seed("location", **LOOSE_LOCATION, Name=name)["Id"]

    def work_order(
        self,
        customer: str | None = JANSEN,
        *,
        location: int | None = None,
        customer_on_location_only: bool = False,
        work: Sequence[int] = (),
        travel: Sequence[int] = (),
        items: Sequence[tuple[str, float, float | None]] = (),
        surveys: Sequence[str] = (),
        user: str | None = None,
        time_sheet_user: str | None = None,
        reference: str = "",
        description: str = "Cv-ketel onderhoud",
        performed: str | None = "Ketel gereinigd en afgesteld.",
        archive: bool = True,
        status: str = "Completed",
    ) -> dict[str, Any]:
        """A work order in Simon: on a Visma.net customer (its number) and that customer's
        main work address, with work and travel time sheets (minutes), used items
        (item number or Simon item code, quantity, price), surveys (names) and the user of
        its scheduling; completed and archived now unless told otherwise."""
        simon = self.emulators.simon

        def make() -> dict[str, Any]:
            where = location
            customer_id = None
            if customer is not None:
                customer_id = self.customers[customer]
                where = where or self.locations[customer]
            if where is None:
                where = simon.seed("location", **LOOSE_LOCATION, Name="Bouwplaats")["Id"]
            order = simon.seed(
                "workorder", LocationId=where,
                CustomerId=None if customer_on_location_only else customer_id,
                Reference=reference, Description=description, WorkPerformed=performed,
                Status="InProgress", PlannedDate="2025-03-10")
            wid = order["Id"]
            start = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
            if user is not None:
                simon.seed("scheduling", WorkOrderId=wid, UserId=self.users[user],
                           Start=start.isoformat(), End=(start + timedelta(hours=2)).isoformat())
            sheet_user = self.users.get(time_sheet_user or user or "")
            for kind, sheets in (("Work", work), ("Travel", travel)):
                for minutes in sheets:
                    simon.seed("timesheet", WorkOrderId=wid, UserId=sheet_user,
                               Date="2025-03-10", Start="08:00", End="10:00",
                               Minutes=minutes, Kind=kind)
            for code, quantity, price in items:
                item_id = self.items.get(code)
                item = simon.get("item", item_id) if item_id else None
                if item is None:
                    found = [i for i in simon.list("item") if i["Code"] == code]
                    item = found[0] if found else None
                simon.seed("useditem", WorkOrderId=wid, ItemId=item["Id"] if item else None,
                           Code=code, Description=item["Description"] if item else code,
                           Unit=item["Unit"] if item else "st", Quantity=quantity,
                           Price=price)
            for name in surveys:
                simon.seed("workordersurvey", WorkOrderId=wid, SurveyName=name,
                           CompletedAt="2025-03-10T10:00:00Z", Answers=[
                               {"QuestionId": "ok", "Question": "Werkplek schoon?",
                                "Type": "checkbox", "Answer": True},
                               {"QuestionId": "opm", "Question": "Opmerkingen klant",
                                "Type": "text", "Answer": f"Antwoord {name}"},
                               {"QuestionId": "sig", "Question": "Handtekening klant",
                                "Type": "signature",
                                "Answer": data_uri(tiny_png(_rng(), 16, 8))},
                           ])
            if archive:
                order = simon.archive_work_order(wid)
            if status != "Completed":
                order = simon.update("workorder", wid, Status=status)
            return order

        return self.emulators.call(make)

    def archive(self, work_order_id: int, when: datetime | None = None) -> dict[str, Any]:
        """Archive (again): Modified moves."""
        return self.emulators.call(self.emulators.simon.archive_work_order, work_order_id, when)

    def update(self, table: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Change a record as a Simon user would (Modified moves)."""
        return self.emulators.call(self.emulators.simon.update, table, record_id, **fields)

    # --- Visma.net ------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        """Every sales order and invoice Visma.net received, with its files."""

        def read() -> list[Document]:
            company = self.emulators.visma.company()
            found = []
            for order in company.sales_orders.values():
                found.append(Document(
                    "SalesOrder", order.order_id, order.type, json.loads(order.raw),
                    order.raw.decode(), {a.name: a.content for a in order.attachments},
                    {a.name: a.revision for a in order.attachments}))
            for invoice in company.invoices.values():
                found.append(Document(
                    "Invoice", invoice.reference_number, None, json.loads(invoice.raw),
                    invoice.raw.decode(), {a.name: a.content for a in invoice.attachments},
                    {a.name: a.revision for a in invoice.attachments}))
            return found

        return self.emulators.call(read)

    def documents_of(self, work_order: dict[str, Any]) -> list[Document]:
        marker = marker_of(work_order["Id"])
        return [d for d in self.documents() if d.marker == marker]

    def document(self, work_order: dict[str, Any]) -> Document:
        """The one document made for a work order (fails when there is none or more)."""
        found = self.documents_of(work_order)
        assert len(found) == 1, f"{len(found)} documents for work order {work_order['Id']}"
        return found[0]

    def received(self) -> dict[str, list[dict[str, Any]]]:
        """The emulator's own read-back handles (raw bodies as text)."""
        visma = self.emulators.visma
        return {"salesOrders": self.emulators.call(visma.received_sales_orders),
                "invoices": self.emulators.call(visma.received_invoices)}


def _rng():  # noqa: ANN202 - a seeded random for the generated signature images
    import random

    return random.Random(7)


def pushed(outcome: LoopOutcome) -> OrdersResult:
    """What an orders pass did."""
    return result_of(outcome, OrdersResult)


@pytest.fixture
async def world(emulators: EmulatorServer, database_url: str) -> AsyncIterator[World]:
    async with opened_world(emulators, database_url, kind=World) as made:
        yield made

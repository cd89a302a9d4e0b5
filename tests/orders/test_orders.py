"""S-40 .. S-51: archived Simon work orders become Visma.net sales orders or customer invoices.

Every test drives both emulators over real HTTP and checks the exact request body Visma.net
received (`raw`, as parsed JSON), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from reconcilers.loops.orders import marker_of
from reconcilers.store import LogTable, Severity, WorkOrderState
from tests.fixtures.emulators import FAST
from tests.orders.conftest import (
    ACTION_CUSTOMER,
    DE_VRIES,
    JAN,
    JANSEN,
    JANSEN_NAME,
    JANSEN_ONE_LINE,
    KEES,
    PIET,
    World,
    pdf_text,
    pushed,
)

pytestmark = pytest.mark.anyio


# --- the documents as Visma.net must receive them ------------------------------------------------

def sales_order(work_order: dict[str, Any], lines: list[dict[str, Any]], *,
                customer: str = JANSEN, reference: str | None = None,
                note: str | None = None) -> dict[str, Any]:
    """A NewSalesOrderCommand (api/visma-net.md 6.4) carrying the work order's marker."""
    party: dict[str, Any] = {"id": customer, "order": marker_of(work_order["Id"])}
    if reference is not None:
        party["refNo"] = reference
    body: dict[str, Any] = {"type": "SO", "customer": party,
                            "description": f"Werkbon {work_order['Number']}"}
    if note is not None:
        body["note"] = note
    body["orderLines"] = lines
    return body


def so_line(item: str, quantity: float, *, price: float | None = None,
            warehouse: str | None = "MAIN", description: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"inventoryId": item, "quantity": quantity}
    if price is not None:
        line |= {"unitPrice": price, "hasManualPrice": True}
    if warehouse is not None:
        line["warehouseId"] = warehouse
    if description is not None:
        line["description"] = description
    return line


def invoice(work_order: dict[str, Any], lines: list[dict[str, Any]], *,
            customer: str = JANSEN, reference: str | None = None,
            note: str | None = None) -> dict[str, Any]:
    """A CustomerInvoiceUpdateDto (api/visma-net.md 7): every scalar as `{"value": ...}`."""
    body: dict[str, Any] = {"customerNumber": {"value": customer}}
    if reference is not None:
        body["customerRefNumber"] = {"value": reference}
    body["externalReference"] = {"value": marker_of(work_order["Id"])}
    body["invoiceText"] = {"value": f"Werkbon {work_order['Number']}"}
    if note is not None:
        body["note"] = {"value": note}
    body["invoiceLines"] = lines
    return body


def invoice_line(item: str, quantity: float, *, price: float | None = None,
                 description: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"operation": "Insert", "inventoryNumber": {"value": item}}
    if description is not None:
        line["description"] = {"value": description}
    line["quantity"] = {"value": quantity}
    if price is not None:
        line["unitPriceInCurrency"] = {"value": price}
    return line


KABEL = "Installatiekabel 2,5 mm2"
KRAAN = "Thermostaatkraan"
INVOICE = {"documentType": "Invoice", "defaultWarehouse": None}

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For tests of the document's shape alone: the ledger and log paths they share with the
other tests run on both databases there."""


async def entry_state(world: World, work_order: dict[str, Any]) -> WorkOrderState | None:
    entry = await world.state.ledger.get(work_order["Id"])
    return entry.state if entry else None


async def open_errors(world: World, work_order: dict[str, Any]) -> list[Any]:
    return await world.state.log.entries(min_severity="error", include_resolved=False,
                                         table=LogTable.WORK_ORDER, key=work_order["Number"])


# --- S-40 trigger and document type --------------------------------------------------------------

async def test_sales_order_setting_sends_an_SO_with_every_part(world: World) -> None:
    """S-40 (SalesOrder), S-42..S-45, S-47, S-48, S-50: the whole NewSalesOrderCommand."""
    wo = world.work_order(work=[100, 20], travel=[15], items=[("KABEL", 12.5, 1.35),
                                                             ("KRAAN", 2, None)],
                          user=JAN[0], reference="PO-4711",
                          performed="Ketel gereinigd en afgesteld.")
    outcome = await world.push(workTimeItem="UUR", travelTimeItem="REIS", fixedItem="VOORRIJ",
                               note="WorkAddressAndDescription", customerReference="Both",
                               warehouseByUser={JAN[1]: "BUS1"})

    assert outcome.ok, outcome.error
    assert pushed(outcome).to_json() == {"sent": 1, "failed": 0, "skipped": 0, "passedOver": 0,
                                    "recovered": 0, "waiting": 0}
    received = world.received()
    assert received["invoices"] == [] and len(received["salesOrders"]) == 1
    assert json.loads(received["salesOrders"][0]["raw"]) == sales_order(
        wo, [so_line("UUR", 2, warehouse="BUS1"),
             so_line("REIS", 0.25, warehouse="BUS1"),
             so_line("KABEL", 12.5, price=1.35, warehouse="BUS1", description=KABEL),
             so_line("KRAAN", 2, warehouse="BUS1", description=KRAAN),
             so_line("VOORRIJ", 1, warehouse="BUS1")],
        reference=f"{wo['Number']} / PO-4711",
        note=f"{JANSEN_ONE_LINE}\nKetel gereinigd en afgesteld.")
    assert world.emulators.visma.stats.count("POST", "/api/v3/SalesOrders") == 1
    entry = await world.state.ledger.get(wo["Id"])
    assert entry is not None and entry.state is WorkOrderState.DONE
    assert (entry.document_type, entry.marker) == ("SO", marker_of(wo["Id"]))


async def test_invoice_setting_sends_a_customer_invoice(world: World) -> None:
    """S-40 (Invoice): POST /v2/customerinvoice with `{"value": ...}` DTOs, no warehouse."""
    wo = world.work_order(work=[120], travel=[15], items=[("KABEL", 3, 1.35), ("KRAAN", 1, None)],
                          user=JAN[0], reference="PO-9")
    outcome = await world.push(**INVOICE, workTimeItem="UUR", travelTimeItem="REIS",
                               fixedItem="VOORRIJ", note="WorkDescription",
                               customerReference="CustomerReference",
                               warehouseByUser={JAN[1]: "BUS1"})

    assert outcome.ok and pushed(outcome).sent == 1
    received = world.received()
    assert received["salesOrders"] == [] and len(received["invoices"]) == 1
    assert json.loads(received["invoices"][0]["raw"]) == invoice(
        wo, [invoice_line("UUR", 2), invoice_line("REIS", 0.25),
             invoice_line("KABEL", 3, price=1.35, description=KABEL),
             invoice_line("KRAAN", 1, description=KRAAN),
             invoice_line("VOORRIJ", 1)],
        reference="PO-9", note="Ketel gereinigd en afgesteld.")
    assert world.emulators.visma.stats.count("POST", "/v2/customerinvoice") == 1
    entry = await world.state.ledger.get(wo["Id"])
    assert entry is not None and entry.state is WorkOrderState.DONE
    assert entry.document_type == "Invoice"
    assert entry.document_number == received["invoices"][0]["referenceNumber"]


async def test_only_completed_and_archived_work_orders_are_sent(world: World) -> None:
    """S-40: open, completed-but-not-archived and archived-but-not-completed work orders wait;
    archiving a completed one sends it, once."""
    open_order = world.work_order(archive=False)
    not_completed = world.work_order(status="InProgress")
    completed = world.work_order(archive=False)
    world.update("workorder", completed["Id"], Status="Completed")

    outcome = await world.push(workTimeItem="UUR")
    assert outcome.ok and pushed(outcome).sent == 0
    assert world.documents() == []
    for wo in (open_order, not_completed, completed):
        assert await entry_state(world, wo) is None

    world.archive(completed["Id"])
    outcome = await world.push(workTimeItem="UUR")
    assert pushed(outcome).sent == 1
    assert world.document(completed).kind == "SalesOrder"
    assert world.documents_of(open_order) == [] and world.documents_of(not_completed) == []

    # Sent once: another pass, and archiving it again, make no second document (S-4).
    assert pushed(await world.push()).sent == 0
    world.archive(completed["Id"])
    assert pushed(await world.push()).sent == 0
    assert len(world.documents_of(completed)) == 1


async def test_work_orders_archived_before_activation_are_passed_over(world: World) -> None:
    """S-40: only work orders archived at or after the first activation are sent; earlier
    ones are passed over and counted."""
    assert world.activated_at is not None
    before = world.activated_at - timedelta(hours=2)
    # Archived before the activation and untouched since: not even looked at.
    untouched = world.seed("workorder", LocationId=world.locations[JANSEN],
                           CustomerId=world.customers[JANSEN], Description="Oud werk",
                           Status="Completed", Archived=True, ArchivedAt=before.isoformat(),
                           CompletedAt=before.isoformat(), Modified=before)
    # Archived before the activation, changed after it (its Modified moved): passed over.
    edited = world.work_order(archive=False)
    world.archive(edited["Id"], when=before)
    after = world.work_order()

    outcome = await world.push()
    assert outcome.ok, outcome.error
    assert (pushed(outcome).sent, pushed(outcome).passed_over) == (1, 1)
    assert world.document(after).kind == "SalesOrder"
    assert world.documents_of(edited) == [] and world.documents_of(untouched) == []
    entry = await world.state.ledger.get(edited["Id"])
    assert entry is not None and entry.state is WorkOrderState.SKIPPED
    assert "before the integration was activated" in (entry.error or "")
    assert await entry_state(world, untouched) is None


# --- S-41 customer required ------------------------------------------------------------------

async def test_work_order_without_customer_is_an_error_until_linked(world: World) -> None:
    """S-41: no customer -> no document, an error with the action; linking a customer in
    Simon (Modified moves) sends it on the next pass and resolves the error."""
    wo = world.work_order(customer=None, work=[60])

    outcome = await world.push(workTimeItem="UUR")
    assert outcome.ok and (pushed(outcome).sent, pushed(outcome).failed) == (0, 1)
    assert world.documents() == []
    errors = await open_errors(world, wo)
    assert len(errors) == 1
    assert "has no customer" in errors[0].message
    assert errors[0].action and errors[0].action.startswith(ACTION_CUSTOMER)
    assert await entry_state(world, wo) is WorkOrderState.FAILED

    # Nothing changed in Simon: not tried again, still one error.
    outcome = await world.push(workTimeItem="UUR")
    assert (pushed(outcome).sent, pushed(outcome).failed) == (0, 0)
    assert len(await open_errors(world, wo)) == 1

    world.update("workorder", wo["Id"], CustomerId=world.customers[DE_VRIES])
    outcome = await world.push(workTimeItem="UUR")
    assert (pushed(outcome).sent, pushed(outcome).failed) == (1, 0)
    assert world.document(wo).body == sales_order(wo, [so_line("UUR", 1)], customer=DE_VRIES)
    assert await open_errors(world, wo) == []
    assert await entry_state(world, wo) is WorkOrderState.DONE

    # `simon-visma log --severity error` no longer shows it; `--all` shows it resolved (S-80).
    shown = await cli_log(world, "--severity", "error")
    assert [e for e in shown if e["key"] == wo["Number"]] == []
    history = await cli_log(world, "--severity", "error", "--all")
    about = [e for e in history if e["key"] == wo["Number"]]
    assert about and all(e["resolved"] for e in about)


async def cli_log(world: World, *args: str) -> list[dict[str, Any]]:
    """`simon-visma log --json` against the world's database, as a separate process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconcilers.cli", "log", "--tenant", world.tenant.key,
        "--database", world.store.url, "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@SQLITE_ONLY
async def test_customer_of_the_work_address_is_used(world: World) -> None:
    """S-41: without WorkOrder.CustomerId the customer of its Location counts."""
    wo = world.work_order(DE_VRIES, customer_on_location_only=True, work=[30])
    outcome = await world.push(workTimeItem="UUR")
    assert pushed(outcome).sent == 1
    assert world.document(wo).body == sales_order(wo, [so_line("UUR", 0.5)], customer=DE_VRIES)


async def test_customer_made_in_simon_is_an_error(world: World) -> None:
    """S-41: a customer made in Simon (empty ExtKey) is not a Visma.net customer."""
    customer = world.seed("customer", Name="Eigen Klant Simon")
    location = world.seed("location", Name="Eigen werkadres", CustomerId=customer["Id"],
                          Street="Laan", HouseNumber="2", PostalCode="1000 AA", City="Amsterdam")
    wo = world.work_order(customer=None, location=location["Id"], work=[60])
    outcome = await world.push(workTimeItem="UUR")
    assert (pushed(outcome).sent, pushed(outcome).failed) == (0, 1)
    assert world.documents() == []
    [error] = await open_errors(world, wo)
    assert "Eigen Klant Simon" in error.message and "made in Simon" in error.message
    assert error.action and error.action.startswith(ACTION_CUSTOMER)


async def test_customer_gone_from_visma_is_an_error(world: World) -> None:
    """S-41: the Simon customer's Visma.net customer no longer exists."""
    wo = world.work_order(DE_VRIES, work=[60])
    world.emulators.call(world.emulators.visma.delete_customer, DE_VRIES)
    outcome = await world.push(workTimeItem="UUR")
    assert (pushed(outcome).sent, pushed(outcome).failed) == (0, 1)
    [error] = await open_errors(world, wo)
    assert "no longer in Visma.net" in error.message
    assert error.action and "customer that exists in Visma.net" in error.action


# --- S-42, S-43 work and travel time -----------------------------------------------------------

@SQLITE_ONLY
@pytest.mark.parametrize("work, quantity", [([120], 2), ([100, 20], 2), ([95], 1.58),
                                            ([50], 0.83)])
async def test_work_minutes_become_hours_without_price(world: World, work: list[int],
                                                       quantity: float) -> None:
    """S-42: the Minutes of the work time sheets added up, as hours with two decimals."""
    wo = world.work_order(work=work)
    await world.push(workTimeItem="UUR")
    assert world.document(wo).body == sales_order(wo, [so_line("UUR", quantity)])


@SQLITE_ONLY
async def test_work_time_not_booked_without_the_setting(world: World) -> None:
    """S-42, S-43: no workTimeItem / travelTimeItem -> no time lines."""
    wo = world.work_order(work=[120], travel=[15], items=[("KABEL", 1, None)])
    await world.push()
    assert world.document(wo).body == sales_order(wo, [so_line("KABEL", 1, description=KABEL)])


@SQLITE_ONLY
@pytest.mark.parametrize("travel, lines", [
    ([15], [so_line("REIS", 0.25)]),
    ([15, 30], [so_line("REIS", 0.75)]),
    ([0], []),
    ([], []),
])
async def test_travel_minutes_become_hours(world: World, travel: list[int],
                                           lines: list[dict[str, Any]]) -> None:
    """S-43: 15 minutes of travel -> 0.25; zero travel -> no line."""
    wo = world.work_order(work=[60], travel=travel)
    await world.push(workTimeItem="UUR", travelTimeItem="REIS")
    assert world.document(wo).body == sales_order(wo, [so_line("UUR", 1), *lines])


# --- S-44 used items ---------------------------------------------------------------------------

@SQLITE_ONLY
async def test_used_items_on_a_sales_order(world: World) -> None:
    """S-44: each used item with its quantity; a Simon Price is sent as a manual price
    (`unitPrice` + `hasManualPrice`), without one Visma.net prices the line."""
    wo = world.work_order(items=[("KABEL", 25, 1.35), ("KRAAN", 2, None), ("KABEL", 0.5, 0)])
    await world.push()
    assert world.document(wo).body == sales_order(wo, [
        so_line("KABEL", 25, price=1.35, description=KABEL),
        so_line("KRAAN", 2, description=KRAAN),
        so_line("KABEL", 0.5, price=0, description=KABEL),
    ])
    # The emulator's price rules: the manual price stands, the other line has the default.
    lines = world.emulators.call(
        lambda: next(iter(world.emulators.visma.company().sales_orders.values())).lines)
    assert [(line["unitPrice"], line["hasManualPrice"]) for line in lines] == [
        (1.35, True), (39.95, False), (0.0, True)]


@SQLITE_ONLY
async def test_used_items_on_an_invoice(world: World) -> None:
    """S-44: on an invoice the price goes in `unitPriceInCurrency`."""
    wo = world.work_order(items=[("KABEL", 25, 1.35), ("KRAAN", 2, None)])
    await world.push(**INVOICE)
    assert world.document(wo).body == invoice(wo, [
        invoice_line("KABEL", 25, price=1.35, description=KABEL),
        invoice_line("KRAAN", 2, description=KRAAN),
    ])


@pytest.mark.parametrize("from_simon", [True, False], ids=["simon-item", "free-text"])
async def test_used_item_not_from_visma_is_an_error(world: World, from_simon: bool) -> None:
    """S-44, S-41: an item made in Simon, or a free-text line, is no Visma.net item: no
    document, an error with the action."""
    if from_simon:
        world.simon_item("EIGEN", "Eigen artikel", 5.0)
    wo = world.work_order(items=[("KABEL", 1, None), ("EIGEN" if from_simon else "VRIJ", 1, 5)])
    outcome = await world.push()
    assert (pushed(outcome).sent, pushed(outcome).failed) == (0, 1)
    assert world.documents() == []
    [error] = await open_errors(world, wo)
    assert "not an item from Visma.net" in error.message
    assert error.action and error.action.startswith("Book an item that exists in Visma.net")


# --- S-45 fixed item ---------------------------------------------------------------------------

@SQLITE_ONLY
@pytest.mark.parametrize("settings, expected", [
    ({}, lambda wo: sales_order(wo, [so_line("UUR", 1), so_line("VOORRIJ", 1)])),
    (INVOICE, lambda wo: invoice(wo, [invoice_line("UUR", 1), invoice_line("VOORRIJ", 1)])),
], ids=["sales-order", "invoice"])
async def test_fixed_item_on_every_document(world: World, settings: dict[str, Any],
                                            expected: Any) -> None:
    """S-45: one line with the fixed item, quantity 1, on every document; even one without
    other lines."""
    wo = world.work_order(work=[60])
    bare = world.work_order(performed="Alleen voorrijden.")
    await world.push(workTimeItem="UUR", fixedItem="VOORRIJ", **settings)
    assert world.document(wo).body == expected(wo)
    assert world.document(bare).lines[-1:] == world.document(wo).lines[-1:]
    assert len(world.document(bare).lines) == 1


# --- S-46 skip word ----------------------------------------------------------------------------

@pytest.mark.parametrize("field, text", [
    ("performed", "Garantie, NIETFACTUREREN"),
    ("performed", "nazorg (nietfactureren)"),
    ("description", "Klacht NietFactureren"),
])
async def test_skip_word_means_not_sent(world: World, field: str, text: str) -> None:
    """S-46: the skip word in WorkPerformed or Description, in any case: not sent, an info
    entry says so."""
    wo = world.work_order(**{field: text}, work=[60])
    other = world.work_order(work=[60])
    outcome = await world.push(workTimeItem="UUR", skipWord="NIETFACTUREREN")
    assert outcome.ok and (pushed(outcome).sent, pushed(outcome).skipped) == (1, 1)
    assert world.documents_of(wo) == [] and len(world.documents_of(other)) == 1
    assert await entry_state(world, wo) is WorkOrderState.SKIPPED
    entries = await world.state.log.entries(table=LogTable.WORK_ORDER, key=wo["Number"])
    assert [(e.severity, "skip word 'NIETFACTUREREN'" in e.message) for e in entries] == [
        (Severity.INFO, True)]
    assert "S-46" not in entries[0].message  # plain words for users, no SPEC ids


@SQLITE_ONLY
async def test_without_skip_word_setting_every_order_is_sent(world: World) -> None:
    """S-46: without a skip word nothing is held back."""
    wo = world.work_order(performed="Garantie, NIETFACTUREREN")
    outcome = await world.push()
    assert pushed(outcome).sent == 1 and len(world.documents_of(wo)) == 1


# --- S-47 notes --------------------------------------------------------------------------------

PERFORMED = "Ketel gereinigd en afgesteld."
DESCRIPTION = "Cv-ketel onderhoud"


@SQLITE_ONLY
@pytest.mark.parametrize("setting, performed, note", [
    ("None", PERFORMED, None),
    ("WorkAddress", PERFORMED, JANSEN_ONE_LINE),
    ("WorkDescription", PERFORMED, PERFORMED),
    ("WorkDescription", None, DESCRIPTION),
    ("WorkAddressAndDescription", PERFORMED, f"{JANSEN_ONE_LINE}\n{PERFORMED}"),
    ("WorkAddressAndDescription", None, f"{JANSEN_ONE_LINE}\n{DESCRIPTION}"),
])
@pytest.mark.parametrize("document_type", ["SalesOrder", "Invoice"])
async def test_note_setting(world: World, setting: str, performed: str | None,
                            note: str | None, document_type: str) -> None:
    """S-47: the work address (one line), the work description (WorkPerformed, else
    Description), both (address first) or nothing; on an invoice the `note` field."""
    wo = world.work_order(description=DESCRIPTION, performed=performed)
    settings = INVOICE if document_type == "Invoice" else {}
    await world.push(note=setting, fixedItem="VOORRIJ", **settings)
    if document_type == "Invoice":
        expected = invoice(wo, [invoice_line("VOORRIJ", 1)], note=note)
    else:
        expected = sales_order(wo, [so_line("VOORRIJ", 1)], note=note)
    assert world.document(wo).body == expected


# --- S-48 customer reference -------------------------------------------------------------------

@SQLITE_ONLY
@pytest.mark.parametrize("setting, reference, expected", [
    ("None", "PO-4711", None),
    ("WorkOrderNumber", "PO-4711", "{number}"),
    ("CustomerReference", "PO-4711", "PO-4711"),
    ("CustomerReference", "", None),
    ("Both", "PO-4711", "{number} / PO-4711"),
    ("Both", "", "{number}"),
])
@pytest.mark.parametrize("document_type", ["SalesOrder", "Invoice"])
async def test_customer_reference_setting(world: World, setting: str, reference: str,
                                          expected: str | None, document_type: str) -> None:
    """S-48: the work order number, the Simon Reference, both (`<number> / <reference>`) or
    nothing; sales order `customer.refNo`, invoice `customerRefNumber`."""
    wo = world.work_order(reference=reference)
    settings = INVOICE if document_type == "Invoice" else {}
    await world.push(customerReference=setting, fixedItem="VOORRIJ", **settings)
    ref = expected.format(number=wo["Number"]) if expected else None
    if document_type == "Invoice":
        body = invoice(wo, [invoice_line("VOORRIJ", 1)], reference=ref)
    else:
        body = sales_order(wo, [so_line("VOORRIJ", 1)], reference=ref)
    assert world.document(wo).body == body
    warnings = await world.state.log.entries(min_severity="warning", table=LogTable.WORK_ORDER)
    assert warnings == []


@pytest.mark.parametrize("document_type", ["SalesOrder", "Invoice"])
async def test_long_customer_reference_is_cut_with_a_warning(world: World,
                                                             document_type: str) -> None:
    """S-48: longer than 40 characters: cut to 40, with a warning in the log."""
    reference = "Projectnummer 2025-0042 renovatie badkamer en toilet eerste verdieping"
    wo = world.work_order(reference=reference)
    settings = INVOICE if document_type == "Invoice" else {}
    outcome = await world.push(customerReference="Both", **settings)
    assert pushed(outcome).sent == 1
    cut = f"{wo['Number']} / {reference}"[:40]
    body = world.document(wo).body
    sent = body["customer"]["refNo"] if document_type == "SalesOrder" else \
        body["customerRefNumber"]["value"]
    assert sent == cut and len(sent) == 40
    [warning] = await world.state.log.entries(min_severity="warning", table=LogTable.WORK_ORDER,
                                              key=wo["Number"])
    assert warning.severity is Severity.WARNING
    assert "cut to 40 characters" in warning.message and cut in warning.message
    # The cut is permanent: sending the work order does not hide the warning from the log.
    assert warning.resolved_at is None
    shown = await cli_log(world, "--severity", "warning")
    assert [e["message"] for e in shown if e["key"] == wo["Number"]] == [warning.message]


# --- S-49 attachments --------------------------------------------------------------------------

@SQLITE_ONLY
@pytest.mark.parametrize("setting, files", [
    ("None", []),
    ("WorkOrder", ["werkbon"]),
    ("Forms", ["formulieren"]),
    ("Both", ["werkbon", "formulieren"]),
])
async def test_attachments_setting(world: World, setting: str, files: list[str]) -> None:
    """S-49: the work order PDF, the forms PDF (every survey in one), both or none; valid
    PDFs whose text holds the number, the customer and the lines."""
    wo = world.work_order(work=[120], travel=[15], items=[("KABEL", 25, 1.35)], user=JAN[0],
                          reference="PO-4711",
                          surveys=["Opleverformulier", "Keuringsrapport cv-ketel"])
    outcome = await world.push(attachments=setting, workTimeItem="UUR")
    assert pushed(outcome).sent == 1
    document = world.document(wo)
    number = wo["Number"]
    assert sorted(document.attachments) == sorted(f"{f}-{number}.pdf" for f in files)
    assert set(document.revisions.values()) <= {1}
    entry = await world.state.ledger.get(wo["Id"])
    assert entry is not None and entry.state is WorkOrderState.DONE
    assert sorted(entry.attachments_done) == sorted(document.attachments)
    if "werkbon" in files:
        content = document.attachments[f"werkbon-{number}.pdf"]
        assert content.startswith(b"%PDF-")
        text = pdf_text(content)
        for expected in (f"Werkbon {number}", JANSEN_NAME, "Kerkstraat", "PO-4711",
                         "Ketel gereinigd en afgesteld.", "KABEL", KABEL, JAN[0],
                         "Opleverformulier", "Keuringsrapport cv-ketel"):
            assert expected in text, expected
        assert PdfReader(_io(content)).metadata.title == f"Werkbon {number}"
    if "formulieren" in files:
        content = document.attachments[f"formulieren-{number}.pdf"]
        text = pdf_text(content)
        for expected in (f"Formulieren werkbon {number}", JANSEN_NAME, "Opleverformulier",
                         "Keuringsrapport cv-ketel", "Antwoord Opleverformulier",
                         "Antwoord Keuringsrapport cv-ketel", "Werkplek schoon?"):
            assert expected in text, expected
        assert "Ketel gereinigd" not in text


def _io(content: bytes) -> Any:
    import io

    return io.BytesIO(content)


@SQLITE_ONLY
@pytest.mark.parametrize("setting", ["Forms", "Both"])
async def test_no_forms_pdf_without_surveys(world: World, setting: str) -> None:
    """S-49: no surveys, no forms PDF."""
    wo = world.work_order(work=[60])
    outcome = await world.push(attachments=setting)
    assert pushed(outcome).sent == 1
    expected = [f"werkbon-{wo['Number']}.pdf"] if setting == "Both" else []
    assert sorted(world.document(wo).attachments) == expected


async def test_attachments_on_an_invoice(world: World) -> None:
    """S-49 on an invoice: POST /v1/customerinvoice/{number}/attachment."""
    wo = world.work_order(work=[60], surveys=["Opleverformulier"])
    await world.push(attachments="Both", **INVOICE)
    document = world.document(wo)
    assert document.kind == "Invoice"
    assert sorted(document.attachments) == [f"formulieren-{wo['Number']}.pdf",
                                            f"werkbon-{wo['Number']}.pdf"]
    assert f"Werkbon {wo['Number']}" in pdf_text(document.attachments[
        f"werkbon-{wo['Number']}.pdf"])
    files = world.emulators.call(world.emulators.visma.attachment_list)
    assert {(tuple(f["document"]), f["contentType"]) for f in files} == {
        (("customerinvoice", document.number), "application/pdf")}


async def test_pdf_source_simon_attaches_simons_own_rendition(world: World) -> None:
    """S-49: pdfSource Simon: Simon's `digitalpresentation` of the work order, and of each
    survey merged into the one forms PDF."""
    wo = world.work_order(work=[60], performed="Sifon vervangen.",
                          surveys=["Opleverformulier", "Keuringsrapport cv-ketel"])
    await world.push(attachments="Both", pdfSource="Simon")
    document = world.document(wo)
    number = wo["Number"]
    werkbon = document.attachments[f"werkbon-{number}.pdf"]
    text = pdf_text(werkbon)
    # Simon's rendition, not ours: its own labels ("Klant: ...", "Werkzaamheden: ...").
    assert f"Werkbon {number}" in text
    assert f"Klant: {JANSEN_NAME}" in text and "Werkzaamheden: Sifon vervangen." in text
    assert "Uitgevoerde werkzaamheden" not in text
    forms = PdfReader(_io(document.attachments[f"formulieren-{number}.pdf"]))
    assert len(forms.pages) == 2
    pages = [page.extract_text() for page in forms.pages]
    assert pages[0].startswith("Opleverformulier") and \
        pages[1].startswith("Keuringsrapport cv-ketel")
    assert all(f"Werkbon {number}" in page and f"Klant: {JANSEN_NAME}" in page
               for page in pages)
    pdf_calls = world.emulators.simon.stats.count("GET", "digitalpresentation")
    assert pdf_calls == 3


async def test_refused_attachment_is_an_open_error_on_a_made_document(world: World) -> None:
    """S-49, S-4: Visma.net refuses a file: the document stays (never made again), the work
    order is done, and the log keeps an open error saying to attach the PDF by hand."""
    world.emulators.visma.faults.add("status", path=r"/attachment$", method="POST",
                                     status=400, times=1)
    wo = world.work_order(work=[60], surveys=["Opleverformulier"])
    outcome = await world.push(attachments="Both")
    assert outcome.ok and pushed(outcome).sent == 1
    document = world.document(wo)
    assert sorted(document.attachments) == [f"formulieren-{wo['Number']}.pdf"]
    assert await entry_state(world, wo) is WorkOrderState.DONE
    [error] = await open_errors(world, wo)
    assert f"werkbon-{wo['Number']}.pdf" in error.message
    assert error.action == "Attach the PDF to the document in Visma.net by hand."
    assert [e.key for e in await world.state.log.recent_errors()] == [wo["Number"]]


# --- S-50 warehouse ----------------------------------------------------------------------------

async def test_warehouse_per_user_else_default(world: World) -> None:
    """S-50: every line on the warehouse of the work order's user (e-mail, or name for a
    user without one; the earliest scheduling, else the first time sheet), else the
    default."""
    by_email = world.work_order(work=[60], items=[("KABEL", 1, None)], user=JAN[0])
    by_name = world.work_order(work=[60], user=PIET[0])
    unmapped = world.work_order(work=[60], user=KEES[0])
    nobody = world.work_order(work=[60])
    from_sheet = world.work_order(work=[60], time_sheet_user=JAN[0])
    await world.push(workTimeItem="UUR", fixedItem="VOORRIJ",
                     warehouseByUser={JAN[1]: "BUS1", PIET[0]: "BUS2"})

    def warehouses(wo: dict[str, Any]) -> set[str | None]:
        return {line.get("warehouseId") for line in world.document(wo).lines}

    assert world.document(by_email).body == sales_order(by_email, [
        so_line("UUR", 1, warehouse="BUS1"),
        so_line("KABEL", 1, warehouse="BUS1", description=KABEL),
        so_line("VOORRIJ", 1, warehouse="BUS1")])
    assert warehouses(by_name) == {"BUS2"}
    assert warehouses(unmapped) == {"MAIN"}
    assert warehouses(nobody) == {"MAIN"}
    assert warehouses(from_sheet) == {"BUS1"}


@SQLITE_ONLY
async def test_earliest_scheduling_decides_the_user(world: World) -> None:
    """S-50: of several schedulings the earliest one's user counts."""
    wo = world.work_order(work=[60], user=KEES[0])
    world.seed("scheduling", WorkOrderId=wo["Id"], UserId=world.users[JAN[0]],
               Start="2025-03-10T07:00:00Z", End="2025-03-10T08:00:00Z")
    world.archive(wo["Id"])
    await world.push(workTimeItem="UUR", warehouseByUser={JAN[1]: "BUS1"})
    assert world.document(wo).lines == [so_line("UUR", 1, warehouse="BUS1")]


@SQLITE_ONLY
async def test_invoices_have_no_warehouse(world: World) -> None:
    """S-50: invoices have no warehouse, whatever the mapping."""
    wo = world.work_order(work=[60], items=[("KABEL", 1, None)], user=JAN[0])
    await world.push(workTimeItem="UUR", warehouseByUser={JAN[1]: "BUS1"}, **INVOICE)
    document = world.document(wo)
    assert document.kind == "Invoice"
    assert "warehouse" not in document.raw.lower()


# --- S-51 settings apply from now on ---------------------------------------------------------

async def test_changed_settings_never_change_documents_already_made(world: World) -> None:
    """S-51: documents already made stay as they are; new work orders follow the new
    settings."""
    first = world.work_order(work=[60], reference="PO-1", surveys=["Opleverformulier"])
    await world.push(workTimeItem="UUR", note="WorkAddress", customerReference="Both",
                     attachments="Both")
    before = world.document(first)
    requests_before = dict(world.emulators.visma.stats.by_route)

    # Everything changes; the first work order changes in Simon too.
    changed = {"documentType": "Invoice", "defaultWarehouse": None, "workTimeItem": "REIS",
               "fixedItem": "VOORRIJ", "note": "None", "customerReference": "None",
               "attachments": "None"}
    world.update("workorder", first["Id"], Reference="PO-2")
    world.archive(first["Id"])
    second = world.work_order(work=[60], reference="PO-3")
    outcome = await world.push(**changed)
    assert outcome.ok and pushed(outcome).sent == 1

    after = world.document(first)
    assert (after.kind, after.number, after.raw, after.attachments, after.revisions) == (
        before.kind, before.number, before.raw, before.attachments, before.revisions)
    order = world.emulators.call(lambda: world.emulators.visma.company().sales_orders[
        ("SO", before.number)])
    assert order.version == 1 + len(before.attachments)  # one bump per file, nothing since
    changes = {route: n - requests_before.get(route, 0)
               for route, n in world.emulators.visma.stats.by_route.items()}
    assert not any(n for (method, route), n in changes.items()
                   if method in ("PATCH", "PUT", "DELETE") or "attachment" in route)
    assert world.document(second).body == invoice(second, [invoice_line("REIS", 1),
                                                           invoice_line("VOORRIJ", 1)])


async def test_document_begun_before_a_settings_change_is_finished_as_begun(
        world: World) -> None:
    """S-51, S-4: a sales order made before a switch to invoices, whose answer was lost and
    which could not be looked for at the time, is found and finished as a sales order after
    the switch; no invoice is made for it, and later work orders become invoices."""
    faults = world.emulators.visma.faults
    faults.add("lose_response", path=r"^/api/v3/SalesOrders$", method="POST", times=1)
    faults.add("status", path=r"^/api/v3/SalesOrders$", method="GET", status=503,
               times=FAST.max_attempts)
    wo = world.work_order(work=[60])
    outcome = await world.push(workTimeItem="UUR", attachments="WorkOrder")
    assert not outcome.ok  # Visma.net did not answer the search: the pass stops
    assert await entry_state(world, wo) is WorkOrderState.CREATING

    later = world.work_order(work=[30])
    outcome = await world.push(workTimeItem="UUR", attachments="WorkOrder", **INVOICE)
    assert outcome.ok, outcome.error
    assert pushed(outcome).recovered == 1 and pushed(outcome).sent == 2
    document = world.document(wo)
    assert document.kind == "SalesOrder"
    assert document.body == sales_order(wo, [so_line("UUR", 1)])
    assert sorted(document.attachments) == [f"werkbon-{wo['Number']}.pdf"]
    assert world.document(later).kind == "Invoice"
    entry = await world.state.ledger.get(wo["Id"])
    assert entry is not None and entry.state is WorkOrderState.DONE
    assert entry.document_type == "SO" and entry.document_number == document.number


# --- an item Visma.net does not know; settings that do not check out -----------------------------

async def test_unknown_item_in_visma_is_an_error_until_fixed(world: World) -> None:
    """S-41, S-44: Visma.net refuses an item (1804-InventoryIdNotFound): no document, an
    error with the action; once the item exists again and the work order is archived again,
    it is sent and the error is resolved."""
    wo = world.work_order(items=[("KRAAN", 1, None)])
    world.emulators.call(world.emulators.visma.delete_item, "KRAAN")
    outcome = await world.push()
    assert outcome.ok and (pushed(outcome).sent, pushed(outcome).failed) == (0, 1)
    assert world.documents() == []
    [error] = await open_errors(world, wo)
    assert "Visma.net refused" in error.message and "KRAAN" in error.message
    assert error.action and error.action.startswith("Correct what Visma.net names")
    assert await entry_state(world, wo) is WorkOrderState.FAILED

    world.emulators.call(world.emulators.visma.add_item, "KRAAN", KRAAN,
                         type="NonStockItem", default_price=39.95)
    assert pushed(await world.push()).sent == 0  # not changed in Simon: not retried
    world.archive(wo["Id"])
    outcome = await world.push()
    assert (pushed(outcome).sent, pushed(outcome).failed) == (1, 0)
    assert world.document(wo).body == sales_order(wo, [so_line("KRAAN", 1, description=KRAAN)])
    assert await open_errors(world, wo) == []


async def test_pushes_wait_while_settings_are_invalid(world: World) -> None:
    """S-71: with a configured item missing in Visma.net the settings check fails and no
    work order is sent; once it exists the waiting work orders go."""
    wo = world.work_order(work=[60])
    outcome = await world.push(workTimeItem="UREN")
    assert not outcome.ok
    assert outcome.error and "settings check" in outcome.error and "UREN" in outcome.error
    assert world.documents() == []
    assert await entry_state(world, wo) is None

    world.emulators.call(world.emulators.visma.add_item, "UREN", "Uren", type="LaborItem")
    outcome = await world.push(workTimeItem="UREN")
    assert outcome.ok and pushed(outcome).sent == 1
    assert world.document(wo).body == sales_order(wo, [so_line("UREN", 1)])


# --- claims left behind ----------------------------------------------------------------------

async def test_claims_of_a_worker_that_died_are_taken_over(world: World) -> None:
    """S-4: a pass that died after claiming (before creating anything) leaves `claimed` rows:
    the next pass takes them over at once; one whose work order was deleted in Simon
    meanwhile is skipped instead of stopping every pass."""
    kept = world.work_order(work=[60])
    deleted = world.work_order(work=[30])
    for wo in (kept, deleted):
        claim = await world.state.ledger.claim(wo["Id"], modified=wo["Modified"],
                                               number=wo["Number"])
        assert claim is not None
    world.emulators.call(world.emulators.simon.store.delete, "workorder", deleted["Id"],
                         count=False)

    outcome = await world.push(workTimeItem="UUR")
    assert outcome.ok, outcome.error
    assert pushed(outcome).sent == 1
    assert world.document(kept).body == sales_order(kept, [so_line("UUR", 1)])
    assert world.documents_of(deleted) == []
    assert await entry_state(world, kept) is WorkOrderState.DONE
    assert await entry_state(world, deleted) is WorkOrderState.SKIPPED


async def test_work_order_deleted_while_in_doubt(world: World) -> None:
    """S-4: a work order deleted in Simon while its document was in doubt neither blocks the
    next passes nor gets a second document: one already made is kept (and logged), one never
    made is not made any more."""
    made = world.work_order(work=[60])
    never = world.work_order(work=[30])
    for wo in (made, never):  # a pass that died right after asking Visma.net to create
        claim = await world.state.ledger.claim(wo["Id"], modified=wo["Modified"],
                                               number=wo["Number"])
        assert claim is not None
        await claim.mark_creating(document_kind="SalesOrder", marker=marker_of(wo["Id"]))
    # ... where the request for `made` got through and the one for `never` did not.
    world.emulators.call(world.emulators.visma.add_sales_order,
                         sales_order(made, [so_line("UUR", 1)]))
    for wo in (made, never):
        world.emulators.call(world.emulators.simon.store.delete, "workorder", wo["Id"],
                             count=False)

    outcome = await world.push(workTimeItem="UUR")
    assert outcome.ok, outcome.error
    assert len(world.documents_of(made)) == 1 and world.documents_of(never) == []
    assert await entry_state(world, made) is WorkOrderState.DONE
    assert await entry_state(world, never) is WorkOrderState.FAILED
    warnings = await world.state.log.entries(min_severity="warning", key=made["Number"])
    assert any("deleted in Simon" in e.message for e in warnings)
    assert (await world.push(workTimeItem="UUR")).ok


async def test_a_change_landing_behind_the_cursor_is_still_read(world: World) -> None:
    """S-4, api/simon.md 5.5: the readsync watermark moves to the newest Modified seen minus a
    small overlap, so a work order whose Modified lands just behind it (a write committed
    late, or a Simon server whose clock lags a little) is still read and sent."""
    clock = world.emulators.simon.clock
    world.emulators.call(clock.advance, 2.0)  # a Simon server 2 s ahead archives one ...
    first = world.work_order(work=[60])
    assert pushed(await world.push(workTimeItem="UUR")).sent == 1
    world.emulators.call(clock.advance, -2.0)  # ... one on time archives the next
    late = world.work_order(work=[30])
    assert late["Modified"] < first["Modified"]

    outcome = await world.push(workTimeItem="UUR")
    assert outcome.ok and pushed(outcome).sent == 1
    assert world.document(late).body == sales_order(late, [so_line("UUR", 0.5)])
    assert len(world.documents_of(first)) == 1

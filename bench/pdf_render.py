"""PDF rendering time per work order (SPEC S-49, DESIGN.md section 6: <= 20 ms).

Renders the work order PDF and the custom forms PDF of generated work orders, as the operator
does (work order PDF first, then the forms PDF, which finds the images already decoded), and
prints mean, p50, p99 and max per document beside a baseline measured in the same run: the
bare cost of an empty one-page reportlab document. Two workloads:

* `generated`: work orders from the Simon data generator (emulators/simon/data.py), made in an
  in-process emulator and assembled into `WorkOrderDetails` without HTTP;
* `typical`: the DESIGN profile, 5 time sheets, 5 used items and one form of 8 answers with a
  photo and a signature, each work order with its own images.

    .venv/bin/python bench/pdf_render.py [--orders 300] [--seed 1]

No assertions: it reports.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.pdfgen.canvas import Canvas  # noqa: E402

from emulators.simon import SimonEmulator  # noqa: E402
from emulators.simon.data import add_work_orders, data_uri, populate, tiny_png  # noqa: E402
from reconcilers.clients.simon.models import (  # noqa: E402
    TRAVEL,
    WORK,
    Customer,
    Location,
    Scheduling,
    SurveyAnswer,
    TimeSheet,
    UsedItem,
    User,
    WorkOrder,
    WorkOrderDetails,
    WorkOrderSurvey,
)
from reconcilers.documents import rendering  # noqa: E402

TARGET_MS = 20.0
WARM_UP = 20
PAGE = re.compile(rb"/Type /Page[^s]")


def generated_orders(n: int, seed: int) -> tuple[list[WorkOrderDetails], dict[int, str]]:
    """`n` work orders from the data generator, assembled the way `work_order_details` does."""
    emulator = SimonEmulator()
    populate(emulator, seed=seed)
    add_work_orders(emulator, n, seed=seed)
    children: dict[str, dict[int, list[dict]]] = {}
    for table in ("scheduling", "timesheet", "useditem", "workordersurvey"):
        by_order: dict[int, list[dict]] = defaultdict(list)
        for record in emulator.list(table):
            by_order[record["WorkOrderId"]].append(record)
        children[table] = by_order
    customers = {r["Id"]: Customer.model_validate(r) for r in emulator.list("customer")}
    locations = {r["Id"]: Location.model_validate(r) for r in emulator.list("location")}
    users = {r["Id"]: User.model_validate(r) for r in emulator.list("user")}
    orders = []
    for record in emulator.list("workorder"):
        order = WorkOrder.model_validate(record)
        location = locations.get(order.location_id or 0)
        customer_id = order.customer_id or (location.customer_id if location else None)
        details = WorkOrderDetails(
            work_order=order, location=location, customer=customers.get(customer_id or 0),
            schedulings=[Scheduling.model_validate(r) for r in children["scheduling"][order.id]],
            time_sheets=[TimeSheet.model_validate(r) for r in children["timesheet"][order.id]],
            used_items=[UsedItem.model_validate(r) for r in children["useditem"][order.id]],
            surveys=[WorkOrderSurvey.model_validate(r)
                     for r in children["workordersurvey"][order.id]],
        )
        details.user = users.get(details.user_id or 0)
        orders.append(details)
    return orders, {i: u.name or "" for i, u in users.items()}


def typical_orders(n: int, seed: int) -> list[WorkOrderDetails]:
    """The DESIGN profile: 5 time sheets, 5 used items, one form of 8 answers."""
    rng = random.Random(f"pdf-bench-{seed}")
    day = date(2025, 3, 4)
    customer = Customer(id=1, number="10023", name="Bakker Installatietechniek B.V.",
                        street="Kerkstraat", house_number="12 A", postal_code="1011 AB",
                        city="Amsterdam", country="NL")
    location = Location(id=2, customer_id=1, name="Woning Jansen", street="Dorpsweg",
                        house_number="3", postal_code="3511 AA", city="Utrecht", country="NL")
    orders = []
    for i in range(n):
        answers = [
            SurveyAnswer(question_id="werkplek", question="Werkplek schoon achtergelaten?",
                         type="checkbox", answer=rng.random() < 0.8),
            SurveyAnswer(question_id="opmerking", question="Opmerkingen klant", type="text",
                         answer="Alles netjes opgeleverd, volgende keer extra tijd inplannen."),
            SurveyAnswer(question_id="tevreden", question="Tevredenheid", type="radio",
                         answer="Tevreden"),
            SurveyAnswer(question_id="co", question="CO-waarde (ppm)", type="number",
                         answer=Decimal("1.5")),
            SurveyAnswer(question_id="keurdatum", question="Datum keuring", type="date",
                         answer=day.isoformat()),
            SurveyAnswer(question_id="type", question="Type toestel", type="dropdown",
                         answer="Remeha Avanta"),
            SurveyAnswer(question_id="foto", question="Foto na afloop", type="photo",
                         answer=data_uri(tiny_png(rng, 24, 8))),
            SurveyAnswer(question_id="handtekening", question="Handtekening klant",
                         type="signature", answer=data_uri(tiny_png(rng, 16, 8))),
        ]
        start = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
        orders.append(WorkOrderDetails(
            work_order=WorkOrder(
                id=i + 1, number=f"2025-{i + 1:04d}", reference=f"PO-{rng.randint(1000, 9999)}",
                description="Cv-ketel onderhoud en rookgasmeting",
                work_performed="Ketel gereinigd, branderinstellingen gecontroleerd en "
                               "rookgassen gemeten. Alles in orde.",
                status="Completed", completed_at=start + timedelta(hours=4), archived=True,
                archived_at=start + timedelta(days=1), planned_date=day),
            customer=customer, location=location,
            time_sheets=[TimeSheet(id=j, user_id=5, date=day, start=clock(8 + j, 0),
                                   end=clock(9 + j, 0), minutes=60,
                                   kind=TRAVEL if j == 0 else WORK) for j in range(5)],
            used_items=[UsedItem(id=j, code=f"ART-{j}", description="Klein installatiemateriaal",
                                 quantity=Decimal(j + 1), unit="st",
                                 price=Decimal("4.55") if j % 2 else None) for j in range(5)],
            surveys=[WorkOrderSurvey(id=i + 1, survey_name="Opleverformulier",
                                     completed_at=start + timedelta(hours=3), answers=answers)],
            user=User(id=5, name="Jan de Vries"),
        ))
    return orders


def empty_document() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


Sample = tuple[float, float]  # (wall ms, CPU ms of this thread)


def timed(render: Callable[[], object]) -> Sample:
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    render()
    return (time.perf_counter_ns() - wall) / 1e6, (time.thread_time_ns() - cpu) / 1e6


def percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def row(name: str, samples: Sequence[Sample], extra: str = "") -> str:
    if not samples:
        return f"{name:<34}{0:>6}"
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)
    return (f"{name:<34}{len(samples):>6}{statistics.fmean(wall):>8.2f}"
            f"{statistics.median(wall):>8.2f}{percentile(wall, 0.99):>8.2f}{wall[-1]:>8.2f}"
            f"{statistics.median(cpu):>9.2f}{percentile(cpu, 0.99):>8.2f}  {extra}")


def measure(label: str, orders: Sequence[WorkOrderDetails],
            users: dict[int, str] | None = None) -> list[str]:
    rendering._pictures.clear()
    work_order_ms: list[Sample] = []
    forms_ms: list[Sample] = []
    both_ms: list[Sample] = []
    pages = sizes = 0
    for details in orders:
        wo = fo = None

        def render_wo(details: WorkOrderDetails = details) -> None:
            nonlocal wo
            wo = rendering.render_work_order_pdf(details, company="Acme Installaties B.V.",
                                                 users=users)

        def render_fo(details: WorkOrderDetails = details) -> None:
            nonlocal fo
            fo = rendering.render_forms_pdf(details, company="Acme Installaties B.V.")

        first = timed(render_wo)
        work_order_ms.append(first)
        second = timed(render_fo)
        if fo is not None:
            forms_ms.append(second)
        both_ms.append((first[0] + second[0], first[1] + second[1]))
        if wo is not None:
            pages += len(PAGE.findall(wo))
            sizes += len(wo)
    n = len(orders)
    return [
        row(f"{label}: work order PDF", work_order_ms,
            f"avg {pages / n:.1f} pages, {sizes / n / 1024:.1f} KiB"),
        row(f"{label}: forms PDF", forms_ms, f"{len(forms_ms)} of {n} have forms"),
        row(f"{label}: both, per work order", both_ms),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    generated, users = generated_orders(args.orders, args.seed)
    typical = typical_orders(args.orders, args.seed)
    for details in (generated + typical)[:WARM_UP]:  # imports, font metrics, caches
        rendering.render_work_order_pdf(details)
        rendering.render_forms_pdf(details)
    for _ in range(WARM_UP):
        empty_document()

    baseline = [timed(empty_document) for _ in range(args.orders)]
    lines = [row("baseline: empty one-page document", baseline)]
    lines += measure("generated", generated, users)
    lines += measure("typical", typical)

    header = (f"{'per work order (ms)':<34}{'n':>6}{'mean':>8}{'p50':>8}{'p99':>8}{'max':>8}"
              f"{'cpu p50':>9}{'cpu p99':>8}")
    print(f"PDF rendering, {args.orders} work orders per workload, "
          f"DESIGN target <= {TARGET_MS:g} ms per work order")
    print("wall-clock mean/p50/p99/max, and the CPU time of the rendering thread (less "
          "affected by other load on the machine)")
    print(header)
    print("-" * len(header))
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()

"""The work order PDF and the custom forms PDF (SPEC S-49), built from Simon records directly
and read back with pypdf: what S-42 (hours), S-43 (travel time) and S-44 (used items) book is
what the customer reads, form answers and signatures included."""

from __future__ import annotations

import base64
import io
import random
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from PIL import Image
from pypdf import PdfReader

from emulators.simon.data import data_uri, tiny_png
from reconcilers.clients.simon.models import (
    TRAVEL,
    WORK,
    Customer,
    Location,
    SurveyAnswer,
    TimeSheet,
    UsedItem,
    User,
    WorkOrder,
    WorkOrderDetails,
    WorkOrderSurvey,
)
from reconcilers.documents import rendering
from reconcilers.documents.rendering import (
    UNREADABLE_IMAGE,
    forms_filename,
    merge_pdfs,
    render_forms_pdf,
    render_work_order_pdf,
    work_order_filename,
)

RNG = random.Random("documents")
SIGNATURE = data_uri(tiny_png(RNG, 16, 8))
PHOTO = data_uri(tiny_png(RNG, 24, 8))


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def images_of(pdf: bytes) -> list[Any]:
    return [image for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images]


def pages_of(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def answer(question: str, kind: str, value: Any, question_id: str | None = None) -> SurveyAnswer:
    return SurveyAnswer(question_id=question_id or question.lower(), question=question,
                        type=kind, answer=value)


def delivery_form(signature: Any = SIGNATURE, photo: Any = PHOTO) -> WorkOrderSurvey:
    return WorkOrderSurvey(
        id=31, work_order_id=7, survey_name="Opleverformulier",
        completed_at=datetime(2025, 3, 4, 13, 0, tzinfo=UTC),
        answers=[
            answer("Werkplek schoon achtergelaten?", "checkbox", True),
            answer("PBM aanwezig?", "checkbox", False),
            answer("Opmerkingen klant", "text", "Alles netjes opgeleverd."),
            answer("Tevredenheid", "radio", "Zeer tevreden"),
            answer("Type toestel", "dropdown", "Remeha Avanta"),
            answer("CO-waarde (ppm)", "number", Decimal("1.5")),
            answer("Datum keuring", "date", "2025-03-04"),
            answer("Foto na afloop", "photo", photo),
            answer("Handtekening klant", "signature", signature),
        ])


def typical(**changes: Any) -> WorkOrderDetails:
    """A work order as the push sees it: 5 time sheets (one travel), 5 used items, a form."""
    details = WorkOrderDetails(
        work_order=WorkOrder(
            id=7, number="2025-0042", reference="PO-4711", customer_id=1, location_id=2,
            description="Cv-ketel onderhoud en rookgasmeting",
            work_performed="Ketel gereinigd en rookgassen gemeten. Alles in orde.",
            status="Completed", completed_at=datetime(2025, 3, 4, 11, 30, tzinfo=UTC),
            archived=True, archived_at=datetime(2025, 3, 5, 8, 0, tzinfo=UTC),
            planned_date=date(2025, 3, 4)),
        customer=Customer(id=1, number="10023", name="Bakker Installatietechniek B.V.",
                          street="Kerkstraat", house_number="12 A", postal_code="1011 AB",
                          city="Amsterdam", country="NL"),
        location=Location(id=2, customer_id=1, name="Woning Jansen", street="Dorpsweg",
                          house_number="3", postal_code="3511 AA", city="Utrecht",
                          country="NL"),
        time_sheets=[
            TimeSheet(id=1, user_id=5, date=date(2025, 3, 4), start=time(7, 45),
                      end=time(8, 0), minutes=15, kind=TRAVEL),
            TimeSheet(id=2, user_id=5, date=date(2025, 3, 4), start=time(8, 0),
                      end=time(9, 45), break_minutes=15, minutes=90, kind=WORK),
            TimeSheet(id=3, user_id=6, date=date(2025, 3, 4), start=time(8, 0),
                      end=time(10, 0), minutes=120, kind=WORK, remark="Extra controle"),
            TimeSheet(id=4, user_id=5, date=date(2025, 3, 5), start=time(13, 0),
                      end=time(13, 45), minutes=45, kind=WORK),
            TimeSheet(id=5, user_id=99, date=date(2025, 3, 5), minutes=30, kind=WORK),
        ],
        used_items=[
            UsedItem(id=1, code="KLEIN", description="Klein installatiemateriaal",
                     quantity=Decimal(2), unit="st", price=Decimal("4.55")),
            UsedItem(id=2, code="KIT", description="Siliconenkit sanitair",
                     quantity=Decimal("2.5"), unit="st"),
            UsedItem(id=3, code="CV-PUMP-7", description="Circulatiepomp",
                     quantity=Decimal(1), unit="st", price=Decimal("1234.5")),
            UsedItem(id=4, code="PARK", description="Parkeerkosten", quantity=Decimal(10),
                     unit="uur"),
            UsedItem(id=5, code=None, description="Vrije tekstregel", quantity=None),
        ],
        surveys=[delivery_form()],
        user=User(id=5, name="Jan de Vries"),
    )
    return details.model_copy(update=changes)


def test_work_order_pdf_holds_the_work_order() -> None:
    """S-49: header, customer, work address, reference, description, work performed."""
    pdf = render_work_order_pdf(typical(), company="Acme Installaties B.V.")
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    for expected in (
        "Werkbon 2025-0042", "Acme Installaties B.V.",
        "Gereed", "04-03-2025 12:30",  # CompletedAt in Dutch time (CET in March)
        "Gearchiveerd", "05-03-2025 09:00", "Gepland",
        "Klant", "Bakker Installatietechniek B.V.", "Klantnummer 10023", "Kerkstraat 12 A",
        "Werkadres", "Woning Jansen", "Dorpsweg 3", "3511 AA", "Utrecht",
        "Referentie", "PO-4711",
        "Omschrijving", "Cv-ketel onderhoud en rookgasmeting",
        "Uitgevoerde werkzaamheden", "Ketel gereinigd en rookgassen gemeten. Alles in orde.",
        "Monteur", "Jan de Vries",
    ):
        assert expected in text, expected
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Werkbon 2025-0042"


def test_hours_and_travel_time() -> None:
    """S-42 and S-43: every time sheet with date, user, start-end and h:mm; the totals also as
    the decimal hours that are booked."""
    text = text_of(render_work_order_pdf(typical(), users={6: "Piet Pieters"}))
    assert "Uren" in text and "Reistijd" in text
    for expected in ("04-03-2025", "05-03-2025", "08:00–09:45", "1:30", "2:00", "0:45", "0:30",
                     "Extra controle", "Jan de Vries", "Piet Pieters",
                     "4:45", "4,75 uur",  # work: 90 + 120 + 45 + 30 minutes
                     "07:45–08:00", "0:15", "0,25 uur"):  # travel
        assert expected in text, expected
    assert "Pauze" in text


def test_used_items() -> None:
    """S-44: code, description, quantity, unit and the unit price where Simon has one."""
    text = text_of(render_work_order_pdf(typical()))
    assert "Materialen" in text
    for expected in ("KLEIN", "Klein installatiemateriaal", "KIT", "2,5", "CV-PUMP-7",
                     "PARK", "10", "uur", "Vrije tekstregel", "€ 4,55", "€ 1.234,50"):
        assert expected in text, expected


def test_form_answers_inline_and_the_signature_at_the_end() -> None:
    """S-49: the answers of every form (checkboxes as Ja/Nee, numbers and dates in Dutch), the
    photo as an image, the signature as an image at the end."""
    pdf = render_work_order_pdf(typical())
    text = text_of(pdf)
    for expected in ("Formulieren", "Opleverformulier", "Werkplek schoon achtergelaten?", "Ja",
                     "PBM aanwezig?", "Nee", "Opmerkingen klant", "Alles netjes opgeleverd.",
                     "Tevredenheid", "Zeer tevreden", "Remeha Avanta", "CO-waarde (ppm)", "1,5",
                     "Datum keuring", "Foto na afloop", "Handtekening", "Handtekening klant"):
        assert expected in text, expected
    assert text.rindex("Handtekening klant") > text.index("Foto na afloop")
    images = images_of(pdf)
    assert len(images) == 2  # the photo and the signature
    assert sorted(image.image.size for image in images) == [(16, 8), (24, 8)]


def test_forms_pdf_holds_every_survey() -> None:
    """S-49: one forms PDF with every survey under its SurveyName, images included."""
    inspection = WorkOrderSurvey(
        id=32, work_order_id=7, survey_name="Keuringsrapport cv-ketel",
        answers=[answer("Waterdruk (bar)", "number", 1.8),
                 answer("Handtekening monteur", "signature",
                        data_uri(tiny_png(random.Random(2), 16, 8)))])
    pdf = render_forms_pdf(typical(surveys=[delivery_form(), inspection]))
    assert pdf is not None
    text = text_of(pdf)
    for expected in ("Formulieren werkbon 2025-0042", "Bakker Installatietechniek B.V.",
                     "Woning Jansen, Dorpsweg 3, 3511 AA", "Opleverformulier",
                     "Keuringsrapport cv-ketel", "Werkplek schoon achtergelaten?", "Ja", "Nee",
                     "Waterdruk (bar)", "1,8", "Handtekening klant", "Handtekening monteur"):
        assert expected in text, expected
    assert text.index("Opleverformulier") < text.index("Keuringsrapport cv-ketel")
    assert len(images_of(pdf)) == 3  # photo and two signatures


def test_several_signatures_at_the_end_of_the_work_order() -> None:
    other = WorkOrderSurvey(id=40, survey_name="Keuringsrapport cv-ketel", answers=[
        answer("Handtekening monteur", "signature", data_uri(tiny_png(random.Random(3), 16, 8)))])
    pdf = render_work_order_pdf(typical(surveys=[delivery_form(), other]))
    text = text_of(pdf)
    assert "Handtekening klant (Opleverformulier)" in text
    assert "Handtekening monteur (Keuringsrapport cv-ketel)" in text
    assert len(images_of(pdf)) == 3


def test_no_surveys_no_forms_pdf() -> None:
    """S-49: no surveys, no forms PDF; the work order PDF has no forms and no images."""
    details = typical(surveys=[])
    assert render_forms_pdf(details) is None
    pdf = render_work_order_pdf(details)
    text = text_of(pdf)
    assert "Formulieren" not in text and "Handtekening" not in text
    assert images_of(pdf) == []


def test_missing_pieces_do_not_break_the_pdf() -> None:
    """No customer, no location, no children, hardly any fields: still a PDF."""
    details = WorkOrderDetails(work_order=WorkOrder(id=12))
    text = text_of(render_work_order_pdf(details))
    assert "Werkbon 12" in text
    assert "Geen klant" in text and "Geen werkadres" in text
    for absent in ("Uren", "Reistijd", "Materialen", "Formulieren", "Omschrijving"):
        assert absent not in text
    survey = WorkOrderSurvey(answers=[
        SurveyAnswer(question_id="q1", question="", type="text", answer=None),
        SurveyAnswer(question_id="q2", question="Akkoord?", type="checkbox", answer=None),
        SurveyAnswer(question_id="q3", question="Foto", type="photo", answer=None),
        SurveyAnswer(question_id="q4", question="Handtekening", type="signature", answer=""),
        SurveyAnswer(question_id="q5", question="Onbekend", type="slider", answer=7),
    ])
    details = WorkOrderDetails(
        work_order=WorkOrder(id=13, number="13"),
        location=Location(id=1), customer=Customer(id=2),
        time_sheets=[TimeSheet(id=1)], used_items=[UsedItem(id=1)],
        surveys=[survey, WorkOrderSurvey(id=2)])
    for pdf in (render_work_order_pdf(details), render_forms_pdf(details)):
        assert pdf is not None
        text = text_of(pdf)
        assert "q1" in text and "Akkoord?" in text and "niet ingevuld" in text
        assert "Formulier" in text  # a survey without a name
    assert "Geen antwoorden." in text_of(render_forms_pdf(details) or b"")


def test_malformed_data_uri_becomes_a_placeholder() -> None:
    """A signature or photo that is not a readable image: the text "afbeelding onleesbaar"."""
    bad = (
        "data:image/png;base64,!!! geen base64 !!!",
        "data:image/png;base64," + base64.b64encode(b"not a png at all").decode(),
        "data:image/png;base64," + base64.b64encode(tiny_png(RNG)[:40]).decode(),  # truncated
        "https://example.invalid/handtekening.png",
        "data:text/plain;base64,aGFsbG8=",
    )
    for uri in bad:
        details = typical(surveys=[delivery_form(signature=uri, photo=uri)])
        for pdf in (render_work_order_pdf(details), render_forms_pdf(details)):
            assert pdf is not None
            text = text_of(pdf)
            assert text.count(UNREADABLE_IMAGE) == 2, uri
            assert images_of(pdf) == [], uri
    details = typical(surveys=[delivery_form(signature=12, photo=True)])  # not even a string
    assert text_of(render_work_order_pdf(details)).count(UNREADABLE_IMAGE) == 2


def test_other_image_kinds() -> None:
    """Transparent signatures, JPEG photos, palette images and very large images all appear;
    large ones scaled down before embedding."""

    def uri(image: Image.Image, kind: str) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format=kind)
        return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()

    transparent = Image.new("RGBA", (60, 20), (0, 0, 0, 0))
    transparent.putpixel((5, 5), (0, 0, 128, 255))
    photo = Image.new("RGB", (3000, 1500), (200, 120, 40))
    palette = Image.new("P", (30, 10), 3)
    details = typical(surveys=[WorkOrderSurvey(id=1, survey_name="Foto's", answers=[
        answer("Handtekening", "signature", uri(transparent, "PNG")),
        answer("Overzicht", "photo", uri(photo, "JPEG")),
        answer("Detail", "photo", uri(palette, "PNG")),
        answer("Percent-encoded", "photo", "data:image/png," +
               "".join(f"%{b:02X}" for b in tiny_png(random.Random(5)))),
    ])])
    pdf = render_forms_pdf(details)
    assert pdf is not None
    sizes = sorted(image.image.size for image in images_of(pdf))
    assert (1200, 600) in sizes and (60, 20) in sizes and (30, 10) in sizes
    assert (12, 6) in sizes
    assert UNREADABLE_IMAGE not in text_of(pdf)


def test_long_work_orders_flow_over_pages() -> None:
    """Rows repeat their table header on the next page; a text longer than a page, a word wider
    than its column and characters outside the standard fonts do not break it."""
    sheets = [TimeSheet(id=i, user_id=5, date=date(2025, 3, 4), minutes=60, kind=WORK,
                        remark=f"regel {i}") for i in range(120)]
    items = [UsedItem(id=i, code=f"ART-{i:03d}", quantity=Decimal(i + 1),
                      description="Heel lange omschrijving " * 6) for i in range(60)]
    long_text = "\n".join(f"Alinea {i}: " + "werkzaamheden uitgevoerd " * 20 for i in range(60))
    details = typical(time_sheets=sheets, used_items=items,
                      work_order=typical().work_order.model_copy(update={
                          "work_performed": long_text + "\tZonder·spaties" + "X" * 400
                                            + " ✓ 😀 \x00\x07 ł"}))
    pdf = render_work_order_pdf(details)
    text = text_of(pdf)
    pages = pages_of(pdf)
    assert pages > 5
    assert f"pagina 1 van {pages}" in text and f"pagina {pages} van {pages}" in text
    assert "Werkbon 2025-0042 (vervolg)" in text
    for i in (0, 59, 119):
        assert f"regel {i}" in text
    for i in (0, 30, 59):
        assert f"ART-{i:03d}" in text
    assert "Alinea 59" in text and "120:00" in text and "120,00 uur" in text


def test_same_input_same_bytes() -> None:
    """Invariant mode: rendering is deterministic (same work order, same attachment)."""
    assert render_work_order_pdf(typical()) == render_work_order_pdf(typical())
    assert render_forms_pdf(typical()) == render_forms_pdf(typical())
    rendering._pictures.clear()
    assert render_work_order_pdf(typical()) == render_work_order_pdf(typical())


def test_filenames() -> None:
    """S-49: werkbon-<number>.pdf and formulieren-<number>.pdf."""
    assert work_order_filename("2025-0042") == "werkbon-2025-0042.pdf"
    assert forms_filename("2025-0042") == "formulieren-2025-0042.pdf"
    assert work_order_filename(17) == "werkbon-17.pdf"
    assert work_order_filename("WB 12/3") == "werkbon-WB-12-3.pdf"  # no path separators
    assert forms_filename("") == "formulieren-onbekend.pdf"


def test_merge_pdfs() -> None:
    """Simon's own per-survey renditions as one forms PDF (S-49 `digitalpresentation`)."""
    one = render_work_order_pdf(typical())
    two = render_forms_pdf(typical())
    assert two is not None
    assert merge_pdfs([]) is None
    assert merge_pdfs([one]) == one
    merged = merge_pdfs([one, two])
    assert merged is not None
    assert pages_of(merged) == pages_of(one) + pages_of(two)


def test_images_are_decoded_once_within_a_budget() -> None:
    """The work order PDF and the forms PDF share decoded images; the cache stays in budget."""
    cache = rendering._PictureCache(budget=4000)
    uris = [data_uri(tiny_png(random.Random(i), 24, 8)) for i in range(30)]
    first = cache.get(uris[0])
    assert first is not None and cache.get(uris[0]) is first  # decoded once
    assert cache.get("data:image/png;base64,@@@") is None
    for uri in uris:
        cache.get(uri)
    assert 0 < cache._used <= cache.budget
    assert len(cache._entries) < len(uris)


def test_hostile_text_in_every_field_renders() -> None:
    """Text from outside is data: every string of the contract's hostile-text.json (lone
    surrogates, controls, direction overrides, 10,000 characters) in the number, reference,
    texts, customer, item and form answer gives two valid PDFs and a plain file name."""
    from tests.test_addresses import HOSTILE

    for name, text in HOSTILE.items():
        base = typical()
        details = base.model_copy(update={
            "work_order": base.work_order.model_copy(update={
                "number": text, "reference": text, "description": text,
                "work_performed": text}),
            "customer": base.customer.model_copy(update={"name": text, "street": text,
                                                          "city": text}),
            "used_items": [UsedItem(id=1, code=text, description=text, quantity=None)],
            "surveys": [delivery_form().model_copy(update={
                "survey_name": text, "answers": [answer(text, "text", text)]})],
        })
        for render in (render_work_order_pdf, render_forms_pdf):
            pdf = render(details, company=text)
            assert pdf is not None and text_of(pdf) is not None, name
        for filename in (work_order_filename(text), forms_filename(text)):
            assert filename.isascii() and "/" not in filename and ";" not in filename, name
            assert ".." not in filename.removesuffix(".pdf"), name

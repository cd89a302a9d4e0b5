"""Simon's own renditions (`digitalpresentation`): small real PDFs, enough to attach and to
recognise (work order number, customer name, survey answers)."""

from __future__ import annotations

import io
from collections.abc import Iterable

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def _render(title: str, lines: Iterable[str]) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    page.setTitle(title)
    width, height = A4
    y = height - 60
    page.setFont("Helvetica-Bold", 16)
    page.drawString(50, y, title)
    page.setFont("Helvetica", 10)
    y -= 30
    for line in lines:
        if y < 50:
            page.showPage()
            page.setFont("Helvetica", 10)
            y = height - 60
        page.drawString(50, y, line[:110])
        y -= 15
    page.showPage()
    page.save()
    return buffer.getvalue()


def work_order_pdf(work_order: dict, customer_name: str) -> bytes:
    lines = [
        f"Klant: {customer_name}",
        f"Referentie: {work_order.get('Reference') or ''}",
        f"Omschrijving: {work_order.get('Description') or ''}",
        f"Werkzaamheden: {work_order.get('WorkPerformed') or ''}",
        f"Status: {work_order.get('Status')}",
    ]
    return _render(f"Werkbon {work_order['Number']}", lines)


def survey_pdf(survey: dict, work_order_number: str, customer_name: str) -> bytes:
    lines = [f"Werkbon {work_order_number}", f"Klant: {customer_name}", ""]
    for answer in survey.get("Answers") or []:
        value = answer.get("Answer")
        if answer.get("Type") in ("signature", "photo"):
            value = "(afbeelding)" if value else ""
        lines.append(f"{answer.get('Question')}: {'' if value is None else value}")
    return _render(str(survey.get("SurveyName") or "Formulier"), lines)

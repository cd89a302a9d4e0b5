"""Visma.net wire helpers for the emulator: error bodies, date formats, DTO value unwrapping."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

# ERP list filters accept exactly these forms (visma-net.md section 3).
_ERP_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
)
CONDITIONS = (">=", "<=", ">", "<")


def is_v3(path: str) -> bool:
    return path.lower().startswith("/api/v3/")


def iso(moment: datetime | None) -> str | None:
    """A UTC timestamp the way the emulator answers: `2025-01-14T10:00:00.123Z`."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_erp_datetime(text: str) -> datetime | None:
    """An ERP filter value in one of the documented formats, taken as UTC; None if invalid."""
    text = text.strip()
    for fmt in _ERP_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def parse_iso_datetime(text: str) -> datetime | None:
    """A v3 date-time (RFC 3339; without an offset it is UTC); None if invalid."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def compare(value: datetime, condition: str, bound: datetime) -> bool:
    if condition == ">":
        return value > bound
    if condition == "<":
        return value < bound
    if condition == ">=":
        return value >= bound
    return value <= bound


def unwrap(field: Any) -> Any:
    """The value of an ERP write-DTO field `{"value": x}`; plain values pass through."""
    if isinstance(field, dict) and set(field) <= {"value"}:
        return field.get("value")
    return field


# --- error bodies -----------------------------------------------------------------------------

def erp_message(message: str, status: int = 400, headers: dict[str, str] | None = None
                ) -> web.Response:
    """ERP business/validation error: `{"message": ...}`."""
    return web.json_response({"message": message}, status=status, headers=headers)


def ipp_exception(fault_code: str, message: str, status: int) -> web.Response:
    """ERP context/licence error in the IPPException shape."""
    import uuid

    body = {
        "ExceptionType": "IPPException",
        "ExceptionMessage": message,
        "ExceptionFaultCode": fault_code,
        "ExceptionMessageID": f"{fault_code}_{uuid.uuid4()}",
        "ExceptionDetails": "",
    }
    return web.json_response(body, status=status)


_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
    428: "Precondition Required", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def problem_body(status: int, detail: str) -> dict[str, Any]:
    return {
        "type": f"https://httpstatuses.io/{status}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    """v3 ProblemDetails (RFC 7807)."""
    return web.json_response(problem_body(status, detail), status=status, headers=headers,
                             content_type="application/problem+json")


def error_for_path(path: str, status: int, message: str) -> web.Response:
    return problem(status, message) if is_v3(path) else erp_message(message, status)


class ValidationProblem(Exception):
    """400 SalesOrderValidationProblemDetails: one or more (code, property, message)."""

    def __init__(self, details: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(m for _, _, m in details))
        self.details = details

    def body(self) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        for _, prop, message in self.details:
            errors.setdefault(prop, []).append(message)
        return {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "detail": self.details[0][2],
            "errors": errors,
            "details": [
                {"code": code, "message": message, "parameters": {"property": prop}}
                for code, prop, message in self.details
            ],
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=400,
                                 content_type="application/problem+json")


@web.middleware
async def v3_error_shape(request: web.Request, handler: Any) -> web.StreamResponse:
    """Rate-limit and injected-fault answers are built as `{"message"}`; on /api/v3 paths the
    service speaks ProblemDetails, so this turns such bodies into ProblemDetails there."""
    response = await handler(request)
    if (
        is_v3(request.path)
        and response.status >= 400
        and isinstance(response, web.Response)
        and response.content_type == "application/json"
        and response.body is not None
    ):
        try:
            body = json.loads(response.body)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return response
        if isinstance(body, dict) and set(body) == {"message"}:
            response.body = json.dumps(problem_body(response.status, str(body["message"])))
            response.content_type = "application/problem+json"
    return response


_SAFE_ID = re.compile(r"^b64\((?P<data>[A-Za-z0-9_\-]*=*)\)$")


def path_id(raw: str) -> str:
    """A resource id from a path segment, decoding the `b64(<base64url>)` form."""
    import base64

    match = _SAFE_ID.match(raw)
    if not match:
        return raw
    data = match.group("data")
    data += "=" * (-len(data) % 4)
    return base64.urlsafe_b64decode(data).decode("utf-8")

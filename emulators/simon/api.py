"""The Simon REST API of api/simon.md section 5, as aiohttp routes relative to the Simon
root, plus the middlewares that check the token and shape every error as
`{"Code", "Message", "Field"?}`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulators.common import FLAGS, Handler
from emulators.simon import pdf
from emulators.simon.schema import SimonError, validation
from emulators.simon.store import table_of

if TYPE_CHECKING:
    from emulators.simon.emulator import SimonEmulator

CODES = {
    400: "Validation", 401: "Unauthorized", 403: "Unauthorized", 404: "NotFound",
    405: "Validation", 409: "Conflict", 422: "InvalidReference", 429: "RateLimited",
}
TOKEN_ROUTE = "simon-token"


def error_body(status: int, message: str) -> dict[str, Any]:
    """Simon's error body for a status (used for injected faults too)."""
    return {"Code": CODES.get(status, "ServerError" if status >= 500 else "Validation"),
            "Message": message}


def error_response(error: SimonError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


async def json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise validation("", "the body is not valid JSON") from None


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


def guard(emulator: SimonEmulator):  # noqa: ANN201 - an aiohttp middleware
    """Checks the token (all but `POST /token`) and turns errors into Simon's error body."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.match_info.route.name != TOKEN_ROUTE:
                emulator.tokens.check(request.headers.get(emulator.token_header),
                                      request.headers.get(emulator.api_key_header))
            return await handler(request)
        except SimonError as error:
            return error_response(error)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return web.json_response(error_body(exc.status, exc.reason), status=exc.status)

    return middleware


def routes(emulator: SimonEmulator) -> list[web.RouteDef]:
    store = emulator.store

    async def token(request: web.Request) -> web.Response:
        body = await json_body(request)
        return web.json_response(
            emulator.tokens.issue(body, request.headers.get(emulator.api_key_header))
        )

    async def insert(request: web.Request) -> web.Response:
        record = store.insert(request.match_info["table"], await json_body(request))
        return web.json_response({"Id": record["Id"], "ExtKey": record["ExtKey"]}, status=201)

    async def update(request: web.Request) -> web.Response:
        record = store.update(request.match_info["table"], await json_body(request))
        return web.json_response({"Id": record["Id"], "ExtKey": record["ExtKey"]})

    async def delete(request: web.Request) -> web.Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise validation("", "the body must be a JSON object")
        unknown = set(body) - {"Id"}
        if unknown:
            raise validation(sorted(unknown)[0], "delete takes only Id")
        store.delete(request.match_info["table"], body.get("Id"))
        return web.json_response({"Id": body["Id"]})

    async def read(request: web.Request) -> web.Response:
        return web.json_response(store.read_keys(request.match_info["table"], request.query))

    async def read_one(request: web.Request) -> web.Response:
        return web.json_response(store.wire(request.match_info["table"], _id(request)))

    async def read_sync(request: web.Request) -> web.Response:
        overlap = "overlap" in request.get(FLAGS, set())
        return web.json_response(
            store.read_sync(request.match_info["table"], request.query, overlap=overlap)
        )

    def customer_name(customer_id: int | None, location_id: int | None) -> str:
        if customer_id is None and location_id is not None:
            location = store.find("location", location_id)
            customer_id = location["CustomerId"] if location else None
        customer = store.find("customer", customer_id) if customer_id is not None else None
        return customer["Name"] if customer else ""

    async def work_order_pdf(request: web.Request) -> web.Response:
        order = store.get("workorder", _id(request))
        body = pdf.work_order_pdf(order, customer_name(order["CustomerId"], order["LocationId"]))
        return web.Response(body=body, content_type="application/pdf")

    async def survey_pdf(request: web.Request) -> web.Response:
        survey = store.get("workordersurvey", _id(request))
        order = store.find("workorder", survey["WorkOrderId"]) or {}
        body = pdf.survey_pdf(
            survey, str(order.get("Number", "")),
            customer_name(order.get("CustomerId"), order.get("LocationId")),
        )
        return web.Response(body=body, content_type="application/pdf")

    def known_table(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            table_of(request.match_info["table"])
            return await handler(request)
        return checked

    return [
        web.post("/token", token, name=TOKEN_ROUTE),
        web.get(r"/workorder/digitalpresentation/{id:\d+}", work_order_pdf),
        web.get(r"/workordersurvey/digitalpresentation/{id:\d+}", survey_pdf),
        web.post("/{table}/insert", known_table(insert)),
        web.post("/{table}/update", known_table(update)),
        web.post("/{table}/delete", known_table(delete)),
        web.get("/{table}/read", known_table(read)),
        web.get(r"/{table}/read/{id:\d+}", known_table(read_one)),
        web.get("/{table}/readsync", known_table(read_sync)),
    ]

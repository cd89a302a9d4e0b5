"""The SalesOrders v3 routes (`/api/v3/SalesOrders`): plain JSON, `{value,nextPage,totalCount}`
pages with a 0-based `pageIndex`, ProblemDetails errors, ETag / If-Match."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from emulators.visma.auth import TENANT
from emulators.visma.company import Company, SalesOrder
from emulators.visma.documents import (
    EXPANSIONS,
    create_sales_order,
    decode_json,
    etag,
    list_row,
    order_dto,
    touch_order,
)
from emulators.visma.wire import ValidationProblem, parse_iso_datetime, problem

if TYPE_CHECKING:
    from emulators.visma.emulator import VismaEmulator

MAX_PAGE_SIZE = 1000
ORDER_BY_FIELDS = {"created": "created", "lastmodified": "modified", "orderid": "order_id"}


class BadRequest(Exception):
    pass


def _int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise BadRequest(f"The value '{value}' is not valid for {name}.") from exc


def _paging(request: web.Request, default_size: int) -> tuple[int, int]:
    size = _int(request, "pageSize", default_size)
    index = _int(request, "pageIndex", 0)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"pageSize must be between 1 and {MAX_PAGE_SIZE}.")
    if index < 0:
        raise BadRequest("pageIndex must be 0 or higher.")
    return size, index


def _paged(request: web.Request, rows: list[Any], size: int, index: int) -> dict[str, Any]:
    start = index * size
    next_page = None
    if start + size < len(rows):
        query = dict(request.query)
        query.update(pageSize=str(size), pageIndex=str(index + 1))
        next_page = f"{request.url.origin()}{request.path}?{urlencode(query)}"
    return {"value": rows[start:start + size], "nextPage": next_page, "totalCount": len(rows)}


def _expansions(request: web.Request) -> set[str]:
    """`expand=Note,Customer` and `expand=Note&expand=Customer`, case-insensitively."""
    by_lower = {e.lower(): e for e in EXPANSIONS}
    found = set()
    for value in request.query.getall("expand", []):
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name.lower() not in by_lower:
                raise BadRequest(f"The value '{name}' is not valid for expand.")
            found.add(by_lower[name.lower()])
    return found


class SalesOrderRoutes:
    def __init__(self, emulator: VismaEmulator) -> None:
        self.emulator = emulator

    def company(self, request: web.Request) -> Company:
        return self.emulator.company(request[TENANT])

    def _order(self, request: web.Request) -> SalesOrder | None:
        key = (request.match_info["type"], request.match_info["order_id"])
        return self.company(request).sales_orders.get(key)

    async def create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        order = create_sales_order(self.company(request), decode_json(raw), raw)
        location = f"{request.url.origin()}/api/v3/SalesOrders/{order.type}/{order.order_id}"
        return web.Response(status=201, headers={"Location": location, "ETag": etag(order)})

    async def list(self, request: web.Request) -> web.Response:
        size, index = _paging(request, 100)
        orders = list(self.company(request).sales_orders.values())
        order_type = request.match_info.get("type")
        if order_type:
            orders = [o for o in orders if o.type == order_type]
        customer_id = request.query.get("customerId")
        if customer_id:
            orders = [o for o in orders if o.customer["id"] == customer_id]
        status = request.query.get("status")
        if status:
            orders = [o for o in orders if o.status.lower() == status.lower()]
        since_text = request.query.get("modifiedSince")
        if since_text:
            since = parse_iso_datetime(since_text)
            if since is None:
                raise BadRequest(f"The value '{since_text}' is not valid for modifiedSince.")
            orders = [o for o in orders if o.modified >= since]
        text = (request.query.get("filter") or "").strip().lower()
        if text:
            orders = [o for o in orders if any(
                text in (value or "").lower()
                for value in (o.order_id, o.customer.get("order"), o.customer["name"])
            )]
        order_by = request.query.get("orderBy")
        if order_by:
            parts = order_by.split()
            field = ORDER_BY_FIELDS.get(parts[0].lower()) if parts else None
            direction = parts[1].lower() if len(parts) > 1 else "asc"
            if field is None or len(parts) > 2 or direction not in ("asc", "desc"):
                raise BadRequest(f"orderBy '{order_by}' is not valid.")
            orders.sort(key=lambda o: getattr(o, field), reverse=direction == "desc")
        base = str(request.url.origin())
        return web.json_response(_paged(request, [list_row(o, base) for o in orders], size,
                                        index))

    async def get(self, request: web.Request) -> web.Response:
        expand = _expansions(request)
        order = self._order(request)
        if order is None:
            return self._not_found(request)
        return web.json_response(order_dto(order, expand), headers={"ETag": etag(order)})

    async def lines(self, request: web.Request) -> web.Response:
        size, index = _paging(request, 1000)
        order = self._order(request)
        if order is None:
            return self._not_found(request)
        return web.json_response(_paged(request, order.lines, size, index))

    def _precondition(self, request: web.Request, order: SalesOrder) -> web.Response | None:
        if_match = request.headers.get("If-Match")
        if not if_match:
            return problem(428, "The If-Match header is required.")
        tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
        if "*" not in tags and etag(order) not in tags:
            return problem(412, "Order version does not match the If-Match header.")
        return None

    async def patch(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if order is None:
            return self._not_found(request)
        refused = self._precondition(request, order)
        if refused:
            return refused
        body = decode_json(await request.read())
        if not isinstance(body, dict):
            raise ValidationProblem([("0003-InvalidValue", "$", "The body is not an object.")])
        for name in ("description", "note"):
            if name in body:
                order.received[name] = body[name]
        customer = body.get("customer")
        if isinstance(customer, dict):
            for name in ("order", "refNo"):
                if name in customer:
                    order.customer[name] = customer[name]
        if body.get("status") in ("Open", "Hold"):
            order.status = body["status"]
        touch_order(self.company(request), order)
        return web.Response(status=202, headers={"ETag": etag(order)})

    async def delete(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if order is None:
            return self._not_found(request)
        refused = self._precondition(request, order)
        if refused:
            return refused
        company = self.company(request)
        del company.sales_orders[(order.type, order.order_id)]
        for attachment in order.attachments:
            company.attachments.pop(attachment.id, None)
        return web.Response(status=202)

    @staticmethod
    def _not_found(request: web.Request) -> web.Response:
        return problem(404, f"Order {request.match_info['type']} "
                            f"{request.match_info['order_id']} was not found.")

    @web.middleware
    async def errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return problem(400, str(exc))
        except ValidationProblem as exc:
            return exc.response()

    def routes(self) -> list[web.RouteDef]:
        base = "/api/v3/SalesOrders"
        return [
            web.get(base, self.list),
            web.post(base, self.create),
            web.get(base + "/{type}", self.list),
            web.get(base + "/{type}/{order_id}", self.get),
            web.patch(base + "/{type}/{order_id}", self.patch),
            web.delete(base + "/{type}/{order_id}", self.delete),
            web.get(base + "/{type}/{order_id}/lines", self.lines),
        ]

"""The emulator's inspection API under `/_emulator/visma` (for tests and demos that drive the
emulator from another process). Every route takes `?tenant=<id>` (default tenant otherwise).

POST   /clients                {clientId, clientSecret, tenantIds}
POST   /generate               {customers, items, seed}
POST   /customers              CustomerDto JSON (object or list), e.g. {"number", "name",
                               "status", "mainAddress", "mainContact", ...}
PATCH  /customers/{number}     CustomerDto fields to change
POST   /customers/{number}/renumber   {"number": new}
DELETE /customers/{number}
POST   /items                  InventoryDto JSON (object or list)
PATCH  /items/{number}         InventoryDto fields to change (type flips stockItem)
POST   /items/{number}/renumber       {"number": new}
DELETE /items/{number}
POST   /warehouses             {"warehouseID", "description", "active"}
POST   /ordertypes             {"orderType", "description", "behavior", "active"}
GET    /salesorders            orders as received: [{type, orderId, received, raw, attachments}]
GET    /invoices               invoices as received
GET    /attachments            [{id, name, revision, document, contentType, size}]
GET    /attachments/{id}       the stored bytes
POST   /clock/advance          {"seconds": n}
POST   /tokens/expire
PUT    /ratelimit              {"limit": n, "window": seconds}
GET    /summary                counts per kind
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulators.visma.company import Company

if TYPE_CHECKING:
    from emulators.visma.emulator import VismaEmulator

_CUSTOMER_KEYS = {"number": "number", "name": "name", "status": "status",
                  "internalId": "internal_id"}
_ITEM_KEYS = {"inventoryNumber": "number", "description": "description", "type": "type",
              "status": "status", "defaultPrice": "default_price", "baseUnit": "base_unit",
              "salesUnit": "sales_unit", "inventoryId": "inventory_id"}


def _split(dto: dict[str, Any], known: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    named = {known[k]: v for k, v in dto.items() if k in known}
    wire = {k: v for k, v in dto.items() if k not in known}
    return named, wire


def visma_inspection_routes(emulator: VismaEmulator, prefix: str) -> list[web.RouteDef]:
    def company(request: web.Request) -> Company:
        return emulator.company(request.query.get("tenant"))

    async def items_of(request: web.Request) -> list[dict[str, Any]]:
        body = await request.json()
        return body if isinstance(body, list) else [body]

    def refused(exc: Exception) -> web.Response:
        return web.json_response({"message": str(exc)}, status=400)

    async def add_client(request: web.Request) -> web.Response:
        body = await request.json()
        emulator.add_client(body["clientId"], body["clientSecret"], body["tenantIds"])
        return web.Response(status=204)

    async def generate(request: web.Request) -> web.Response:
        from emulators.visma.data import generate_visma_tenant

        body = await request.json() if request.can_read_body else {}
        summary = generate_visma_tenant(
            emulator, customers=int(body.get("customers", 100)),
            items=int(body.get("items", 50)), seed=int(body.get("seed", 1)),
            tenant_id=request.query.get("tenant"))
        return web.json_response(summary)

    async def add_customers(request: web.Request) -> web.Response:
        target = company(request)
        try:
            made = []
            for dto in await items_of(request):
                named, wire = _split(dto, _CUSTOMER_KEYS)
                for address in ("mainAddress", "invoiceAddress", "deliveryAddress"):
                    if address in wire:
                        key = {"mainAddress": "address", "invoiceAddress": "invoice_address",
                               "deliveryAddress": "delivery_address"}[address]
                        named[key] = wire.pop(address)
                made.append(target.add_customer(**named, **wire))
        except (ValueError, TypeError) as exc:
            return refused(exc)
        return web.json_response(made, status=201)

    async def change_customer(request: web.Request) -> web.Response:
        try:
            named, wire = _split(await request.json(), _CUSTOMER_KEYS)
            named.pop("number", None)
            dto = company(request).update_customer(request.match_info["number"], **named, **wire)
        except KeyError as exc:
            return web.json_response({"message": str(exc)}, status=404)
        except (ValueError, TypeError) as exc:
            return refused(exc)
        return web.json_response(dto)

    async def add_items(request: web.Request) -> web.Response:
        target = company(request)
        try:
            made = []
            for dto in await items_of(request):
                named, wire = _split(dto, _ITEM_KEYS)
                made.append(target.add_item(**named, **wire))
        except (ValueError, TypeError) as exc:
            return refused(exc)
        return web.json_response(made, status=201)

    async def change_item(request: web.Request) -> web.Response:
        try:
            named, wire = _split(await request.json(), _ITEM_KEYS)
            named.pop("number", None)
            named.pop("inventory_id", None)
            dto = company(request).update_item(request.match_info["number"], **named, **wire)
        except KeyError as exc:
            return web.json_response({"message": str(exc)}, status=404)
        except (ValueError, TypeError) as exc:
            return refused(exc)
        return web.json_response(dto)

    def renumber(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        """changeCustomerCd / changeInventoryNbr for `kind` customer or item."""

        async def handler(request: web.Request) -> web.Response:
            try:
                dto = getattr(company(request), f"renumber_{kind}")(
                    request.match_info["number"], (await request.json())["number"])
            except KeyError as exc:
                return web.json_response({"message": str(exc)}, status=404)
            except ValueError as exc:
                return refused(exc)
            return web.json_response(dto)

        return handler

    def delete(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                getattr(company(request), f"delete_{kind}")(request.match_info["number"])
            except KeyError as exc:
                return web.json_response({"message": str(exc)}, status=404)
            return web.Response(status=204)

        return handler

    async def add_warehouse(request: web.Request) -> web.Response:
        body = await request.json()
        dto = company(request).add_warehouse(body["warehouseID"], body.get("description", ""),
                                              active=bool(body.get("active", True)))
        return web.json_response(dto, status=201)

    async def add_order_type(request: web.Request) -> web.Response:
        body = await request.json()
        dto = company(request).add_order_type(
            body["orderType"], body.get("description", ""),
            behavior=body.get("behavior", "SalesOrder"), active=bool(body.get("active", True)))
        return web.json_response(dto, status=201)

    async def sales_orders(request: web.Request) -> web.Response:
        return web.json_response(company(request).received_sales_orders())

    async def invoices(request: web.Request) -> web.Response:
        return web.json_response(company(request).received_invoices())

    async def attachments(request: web.Request) -> web.Response:
        return web.json_response(company(request).attachment_list())

    async def attachment_bytes(request: web.Request) -> web.Response:
        found = company(request).attachments.get(request.match_info["attachment_id"])
        if found is None:
            return web.json_response({"message": "no such attachment"}, status=404)
        return web.Response(body=found.content, content_type=found.content_type)

    async def advance_clock(request: web.Request) -> web.Response:
        emulator.clock.advance(float((await request.json())["seconds"]))
        return web.Response(status=204)

    async def expire_tokens(request: web.Request) -> web.Response:
        emulator.expire_tokens()
        return web.Response(status=204)

    async def set_rate_limit(request: web.Request) -> web.Response:
        body = await request.json()
        emulator.rate_limit.limit = int(body["limit"])
        emulator.rate_limit.window = float(body.get("window", emulator.rate_limit.window))
        return web.Response(status=204)

    async def summary(request: web.Request) -> web.Response:
        target = company(request)
        return web.json_response({
            "tenant": target.tenant_id, "customers": len(target.customers),
            "items": len(target.items), "warehouses": len(target.warehouses),
            "orderTypes": len(target.order_types), "salesOrders": len(target.sales_orders),
            "invoices": len(target.invoices), "attachments": len(target.attachments),
        })

    return [
        web.post(f"{prefix}/clients", add_client),
        web.post(f"{prefix}/generate", generate),
        web.post(f"{prefix}/customers", add_customers),
        web.patch(f"{prefix}/customers/{{number}}", change_customer),
        web.post(f"{prefix}/customers/{{number}}/renumber", renumber("customer")),
        web.delete(f"{prefix}/customers/{{number}}", delete("customer")),
        web.post(f"{prefix}/items", add_items),
        web.patch(f"{prefix}/items/{{number}}", change_item),
        web.post(f"{prefix}/items/{{number}}/renumber", renumber("item")),
        web.delete(f"{prefix}/items/{{number}}", delete("item")),
        web.post(f"{prefix}/warehouses", add_warehouse),
        web.post(f"{prefix}/ordertypes", add_order_type),
        web.get(f"{prefix}/salesorders", sales_orders),
        web.get(f"{prefix}/invoices", invoices),
        web.get(f"{prefix}/attachments", attachments),
        web.get(f"{prefix}/attachments/{{attachment_id}}", attachment_bytes),
        web.post(f"{prefix}/clock/advance", advance_clock),
        web.post(f"{prefix}/tokens/expire", expire_tokens),
        web.put(f"{prefix}/ratelimit", set_rate_limit),
        web.get(f"{prefix}/summary", summary),
    ]

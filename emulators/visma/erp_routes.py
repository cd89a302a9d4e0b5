"""The ERP monolith routes (`/v1`, `/v2`): customers, inventory, warehouses, order types,
customer invoices and attachments. Lists are bare arrays with per-item `metadata`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from emulators.visma.auth import TENANT
from emulators.visma.company import Company, Record
from emulators.visma.documents import (
    MAX_ATTACHMENT_BYTES,
    ErpRejected,
    attach,
    create_customer_invoice,
    decode_json,
    invoice_dto,
)
from emulators.visma.wire import (
    CONDITIONS,
    compare,
    erp_message,
    parse_erp_datetime,
    path_id,
)

if TYPE_CHECKING:
    from emulators.visma.emulator import VismaEmulator

Filter = Callable[[Record], bool]


class BadQuery(Exception):
    pass


def _int_param(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BadQuery(f"The value '{value}' is not valid for {name}.") from exc


def _date_filter(request: web.Request, name: str, attribute: str) -> Filter | None:
    value = request.query.get(name)
    condition = request.query.get(f"{name}Condition")
    if value is None and condition is None:
        return None
    if value is None or condition is None:
        raise BadQuery(f"{name} and {name}Condition must be used together.")
    if condition not in CONDITIONS:
        raise BadQuery(f"{name}Condition '{condition}' is not valid; use >, <, >= or <=.")
    bound = parse_erp_datetime(value)
    if bound is None:
        raise BadQuery(f"The value '{value}' is not a valid date for {name}.")
    return lambda record: compare(getattr(record, attribute), condition, bound)


class ErpRoutes:
    def __init__(self, emulator: VismaEmulator) -> None:
        self.emulator = emulator
        self._list_cache: dict[tuple[Any, ...], list[Record]] = {}

    def company(self, request: web.Request) -> Company:
        return self.emulator.company(request[TENANT])

    # --- paging ----------------------------------------------------------------------------

    def _page(self, request: web.Request, key: tuple[Any, ...] | None,
              source: Iterable[Record], filters: list[Filter]) -> web.Response:
        """One page of a filtered list; `key` caches the filtered list between the pages of
        one scan (it holds the company's version, so any change makes a new list)."""
        page_number = _int_param(request, "pageNumber", 1)
        page_size = _int_param(request, "pageSize", self.emulator.max_page_size)
        if page_number < 1:
            raise BadQuery("pageNumber must be 1 or higher.")
        if page_size < 1:
            raise BadQuery("pageSize must be 1 or higher.")
        page_size = min(page_size, self.emulator.max_page_size)  # silently limited
        rows = self._list_cache.get(key) if key is not None else None
        if rows is None:
            rows = [r for r in source if all(f(r) for f in filters)]
            if key is not None:
                if len(self._list_cache) > 64:
                    self._list_cache.clear()
                self._list_cache[key] = rows
        metadata = {"totalCount": len(rows), "maxPageSize": self.emulator.max_page_size}
        start = (page_number - 1) * page_size
        body = [{**r.dto, "metadata": metadata} for r in rows[start:start + page_size]]
        return web.json_response(body, dumps=json.dumps)

    def _query_key(self, request: web.Request, company: Company, kind: str) -> tuple[Any, ...]:
        params = tuple(sorted(
            (k, v) for k, v in request.query.items() if k not in ("pageNumber", "pageSize")
        ))
        return (company.tenant_id, kind, company.version, params)

    # --- customers -------------------------------------------------------------------------

    async def customers(self, request: web.Request) -> web.Response:
        company = self.company(request)
        filters: list[Filter] = []
        for name, attribute in (("lastModifiedDateTime", "modified"),
                                ("createdDateTime", "created")):
            found = _date_filter(request, name, attribute)
            if found:
                filters.append(found)
        status = request.query.get("status")
        if status is not None:
            filters.append(lambda r: r.dto["status"] == status)
        name = request.query.get("name")
        if name:
            filters.append(lambda r: name.lower() in r.dto["name"].lower())
        for param, path in (("email", "email"), ("phone", "phone1")):
            value = request.query.get(param)
            if value:
                filters.append(
                    lambda r, v=value, p=path: r.dto.get("mainContact", {}).get(p) == v)
        return self._page(request, self._query_key(request, company, "customer"),
                          company.customers.values(), filters)

    async def customer(self, request: web.Request) -> web.Response:
        number = path_id(request.match_info["number"])
        record = self.company(request).customer(number)
        if record is None:
            return erp_message(f"Customer '{number}' not found.", 404)
        return web.json_response(record.dto)

    async def customer_by_internal_id(self, request: web.Request) -> web.Response:
        raw = request.match_info["internal_id"]
        record = self.company(request).customers.get(int(raw)) if raw.isdigit() else None
        if record is None:
            return erp_message(f"Customer with internalId '{raw}' not found.", 404)
        return web.json_response(record.dto)

    async def change_customer_cd(self, request: web.Request) -> web.Response:
        company = self.company(request)
        raw = request.match_info["internal_id"]
        if not raw.isdigit() or int(raw) not in company.customers:
            return erp_message(f"Customer with internalId '{raw}' not found.", 404)
        body = decode_json(await request.read())
        new_number = body.get("customerCd") if isinstance(body, dict) else None
        if not new_number:
            return erp_message("customerCd is required.")
        try:
            company.renumber_customer(int(raw), str(new_number))
        except ValueError as exc:
            return erp_message(str(exc))
        return web.json_response({"actionId": "00000000-0000-0000-0000-000000000000",
                                  "actionResult": "Done"})

    # --- inventory -------------------------------------------------------------------------

    async def inventory(self, request: web.Request) -> web.Response:
        company = self.company(request)
        filters: list[Filter] = []
        for name, attribute in (("lastModifiedDateTime", "modified"),
                                ("createdDateTime", "created")):
            found = _date_filter(request, name, attribute)
            if found:
                filters.append(found)
        status = request.query.get("status")
        if status is not None:
            filters.append(lambda r: r.dto["status"] == status)
        types = set(request.query.getall("inventoryTypes", []))
        types = {t for value in types for t in value.split(",") if t}
        if types:
            filters.append(lambda r: r.dto["type"] in types)
        number = request.query.get("inventoryNumber")
        if number:
            filters.append(lambda r: r.dto["inventoryNumber"] == number)
        description = request.query.get("description")
        if description:
            filters.append(lambda r: description.lower() in r.dto["description"].lower())
        key = self._query_key(request, company, "inventory")
        return self._page(request, key, company.items.values(), filters)

    async def item(self, request: web.Request) -> web.Response:
        number = path_id(request.match_info["number"])
        record = self.company(request).item(number)
        if record is None:
            return erp_message(f"Inventory item '{number}' not found.", 404)
        return web.json_response(record.dto)

    async def item_by_internal_id(self, request: web.Request) -> web.Response:
        raw = request.match_info["internal_id"]
        record = self.company(request).items.get(int(raw)) if raw.isdigit() else None
        if record is None:
            return erp_message(f"Inventory item with inventoryId '{raw}' not found.", 404)
        return web.json_response(record.dto)

    # --- warehouses and order types ----------------------------------------------------------

    async def warehouses(self, request: web.Request) -> web.Response:
        rows = list(self.company(request).warehouses.values())
        active = request.query.get("active")
        if active is not None:
            rows = [w for w in rows if w["active"] == (active.lower() == "true")]
        return web.json_response(rows)

    async def warehouse(self, request: web.Request) -> web.Response:
        warehouse_id = path_id(request.match_info["warehouse_id"])
        dto = self.company(request).warehouses.get(warehouse_id)
        if dto is None:
            return erp_message(f"Warehouse '{warehouse_id}' not found.", 404)
        return web.json_response(dto)

    async def order_types(self, request: web.Request) -> web.Response:
        company = self.company(request)
        records = [Record(dto, company.clock.now(), company.clock.now())
                   for dto in company.order_types.values()]
        return self._page(request, None, records, [])  # small: not worth caching

    async def order_type(self, request: web.Request) -> web.Response:
        order_type = path_id(request.match_info["order_type"])
        dto = self.company(request).order_types.get(order_type)
        if dto is None:
            return erp_message(f"Order type '{order_type}' not found.", 404)
        return web.json_response(dto)

    # --- customer invoices ------------------------------------------------------------------

    async def create_invoice(self, request: web.Request) -> web.Response:
        company = self.company(request)
        raw = await request.read()
        invoice = create_customer_invoice(company, decode_json(raw), raw)
        location = f"{request.url.origin()}/v1/customerinvoice/{invoice.reference_number}"
        return web.json_response({}, status=201, headers={"Location": location})

    async def invoices(self, request: web.Request) -> web.Response:
        company = self.company(request)
        filters: list[Filter] = []
        for name, attribute in (("lastModifiedDateTime", "modified"),
                                ("createdDateTime", "created")):
            found = _date_filter(request, name, attribute)
            if found:
                filters.append(found)
        for param, getter in (
            ("externalReference", lambda d: d.get("externalReference")),
            ("customerRefNumber", lambda d: d.get("customerRefNumber")),
            ("paymentReference", lambda d: d.get("paymentReference")),
            ("customer", lambda d: d["customer"]["number"]),
            ("status", lambda d: d["status"]),
            ("documentType", lambda d: d["documentType"]),
        ):
            value = request.query.get(param)
            if value is not None:
                filters.append(lambda r, v=value, g=getter: g(r.dto) == v)
        records = [Record(invoice_dto(i), i.modified, i.created)
                   for i in company.invoices.values()]
        return self._page(request, None, records, filters)

    async def invoice(self, request: web.Request) -> web.Response:
        number = path_id(request.match_info["number"])
        invoice = self.company(request).invoices.get(number)
        if invoice is None:
            return erp_message(f"Customer invoice '{number}' not found.", 404)
        return web.json_response(invoice_dto(invoice))

    # --- attachments -----------------------------------------------------------------------

    async def _read_file_part(self, request: web.Request) -> tuple[str, str, bytes]:
        if not request.content_type.startswith("multipart/form-data"):
            raise ErpRejected("The request must be multipart/form-data with one file.")
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.filename:
                content = await part.read(decode=False)
                if len(content) > MAX_ATTACHMENT_BYTES:
                    raise ErpRejected("The file is larger than the allowed 25 MB.")
                return (part.filename, part.headers.get("Content-Type",
                                                         "application/octet-stream"),
                        bytes(content))
        raise ErpRejected("The request holds no file.")

    async def attach_to_sales_order(self, request: web.Request) -> web.Response:
        company = self.company(request)
        order_type = path_id(request.match_info["order_type"])
        number = path_id(request.match_info["order_number"])
        order = company.sales_orders.get((order_type, number))
        if order is None:
            return erp_message(f"Sales order {order_type} {number} not found.", 404)
        name, content_type, content = await self._read_file_part(request)
        attachment = attach(company, order, ("salesorder", order_type, number), name,
                            content_type, content)
        return self._created_attachment(request, attachment.id)

    async def attach_to_invoice(self, request: web.Request) -> web.Response:
        company = self.company(request)
        number = path_id(request.match_info["number"])
        invoice = company.invoices.get(number)
        if invoice is None:
            return erp_message(f"Customer invoice '{number}' not found.", 404)
        name, content_type, content = await self._read_file_part(request)
        attachment = attach(company, invoice, ("customerinvoice", number), name, content_type,
                            content)
        return self._created_attachment(request, attachment.id)

    @staticmethod
    def _created_attachment(request: web.Request, attachment_id: str) -> web.Response:
        location = f"{request.url.origin()}/v1/attachment/{attachment_id}"
        # The ERP spec declares an (empty) object as the 201 body.
        return web.json_response({}, status=201, headers={"Location": location})

    async def attachment(self, request: web.Request) -> web.Response:
        attachment = self.company(request).attachments.get(request.match_info["attachment_id"])
        if attachment is None:
            return erp_message("Attachment not found.", 404)
        return web.Response(body=attachment.content, content_type=attachment.content_type,
                            headers={"Content-Disposition":
                                     f'attachment; filename="{attachment.name}"'})

    # --- routing ---------------------------------------------------------------------------

    @web.middleware
    async def errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Query and validation problems become 400 `{"message"}` on ERP paths."""
        try:
            return await handler(request)
        except BadQuery as exc:
            return erp_message(str(exc))
        except ErpRejected as exc:
            return erp_message(str(exc), exc.status)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/customer", self.customers),
            web.get("/v1/customer/internal/{internal_id}", self.customer_by_internal_id),
            web.post("/v1/customer/action/changeCustomerCd/{internal_id}",
                     self.change_customer_cd),
            web.get("/v1/customer/{number}", self.customer),
            web.get("/v1/inventory", self.inventory),
            web.get("/v1/inventory/internal/{internal_id}", self.item_by_internal_id),
            web.get("/v1/inventory/{number}", self.item),
            web.get("/v1/warehouse", self.warehouses),
            web.get("/v1/warehouse/{warehouse_id}", self.warehouse),
            web.get("/v1/salesordertype", self.order_types),
            web.get("/v1/salesordertype/{order_type}", self.order_type),
            web.post("/v2/customerinvoice", self.create_invoice),
            web.get("/v1/customerinvoice", self.invoices),
            web.get("/v1/customerinvoice/{number}", self.invoice),
            web.post("/v1/customerinvoice/{number}/attachment", self.attach_to_invoice),
            web.post("/v1/salesorder/orderType/{order_type}/{order_number}/attachment",
                     self.attach_to_sales_order),
            web.get("/v1/attachment/{attachment_id}", self.attachment),
        ]


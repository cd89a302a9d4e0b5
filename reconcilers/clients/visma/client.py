"""The Visma.net API client: one per tenant, over Visma Connect, the ERP monolith API and the
SalesOrders v3 service. Retries, re-login and the in-flight limit come from `ApiClient`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import httpx

from reconcilers.clients.http import (
    ApiClient,
    ApiError,
    AuthError,
    NotFoundError,
    RetryPolicy,
    Sleep,
    UnreadableRecordError,
)
from reconcilers.clients.visma import wire
from reconcilers.clients.visma.models import (
    Customer,
    CustomerInvoice,
    InventoryItem,
    NewCustomerInvoice,
    NewSalesOrder,
    SalesOrder,
    SalesOrderLine,
    SalesOrderSummary,
    SalesOrderType,
    Warehouse,
)
from reconcilers.clients.visma.paging import Page, Pages
from reconcilers.text import read_json

SCOPES = (
    "vismanet_erp_service_api:read vismanet_erp_service_api:create "
    "vismanet_erp_service_api:update vismanet_erp_service_api:delete "
    "visma.net.erp.salesorder:read visma.net.erp.salesorder:write"
)
NON_STOCK_TYPES = ("NonStockItem", "LaborItem", "ServiceItem", "ChargeItem", "ExpenseItem")
ERP_PAGE_SIZE = 1000
V3_PAGE_SIZE = 100
REFRESH_MARGIN = 60.0
# The inventory list's expansions default to true; recipe 13 asks them off explicitly.
_NO_EXPANSIONS = {name: "false" for name in (
    "expandCrossReference", "expandAttachment", "expandAttribute", "expandWarehouseDetail",
    "expandAccountInformation", "expandInventoryUnits", "expandSupplierDetails",
    "expandSalesCategories", "expandNote",
)}


class VismaClient(ApiClient):
    """Visma.net for one tenant (company). Never shows its secret or token."""

    api_name = wire.API_NAME

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        token_url: str = "https://connect.visma.com/connect/token",
        api_url: str = "https://api.finance.visma.net",
        sales_order_url: str = "https://salesorder.visma.net",
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (seconds, monotonic) decides when the token is renewed; tests pass their
        own to step past a token's lifetime without waiting."""
        super().__init__(policy=policy, transport=transport, sleep=sleep)
        self._clock = clock
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.__secret = client_secret
        self.token_url = token_url
        self.api_url = api_url.rstrip("/")
        self.sales_order_url = sales_order_url.rstrip("/")
        self.__token: str | None = None
        self._token_expires = 0.0
        self._login_lock = asyncio.Lock()
        self.logins = 0

    def __repr__(self) -> str:
        return f"VismaClient(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    # --- auth ------------------------------------------------------------------------------

    async def _auth_headers(self, refresh: bool) -> dict[str, str]:
        token = self.__token
        if token is None or refresh or self._clock() >= self._token_expires:
            async with self._login_lock:
                # Another task may have logged in while this one waited.
                if self.__token is None or self.__token == token and (
                    refresh or self._clock() >= self._token_expires
                ):
                    await self._login()
        return {"Authorization": f"Bearer {self.__token}"}

    async def _login(self) -> None:
        response = await self._request(
            "POST", self.token_url, authenticated=False, ok=(200, 400, 401, 403),
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.__secret,
                "tenant_id": self.tenant_id,
                "scope": SCOPES,
            },
        )
        path = httpx.URL(self.token_url).path
        if response.status_code != 200:
            error = wire.error(response, "POST", path)
            raise AuthError(self.api_name, f"login refused: {error.message}",
                            status=response.status_code, code=error.code, method="POST",
                            path=path)
        try:
            body = read_json(response)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(self.api_name, "login answered without an access token",
                            status=200, method="POST", path=path) from exc
        self.__token = token
        margin = min(REFRESH_MARGIN, lifetime / 2)
        self._token_expires = self._clock() + lifetime - margin
        self.logins += 1

    def _error(self, response: httpx.Response, method: str, path: str) -> ApiError:
        return wire.error(response, method, path)

    # --- helpers ---------------------------------------------------------------------------

    async def _get_json(self, url: str, params: Any = None) -> Any:
        response = await self._request("GET", url, params=params)
        return read_json(response)

    async def _get_optional(self, url: str, params: Any = None) -> tuple[Any, httpx.Response
                                                                          ] | None:
        try:
            response = await self._request("GET", url, params=params)
        except NotFoundError:
            return None
        return read_json(response), response

    def _erp_pages(self, path: str, params: list[tuple[str, str]], page_size: int | None,
                   start_page: int, convert: Any) -> Pages[Any]:
        size = page_size or ERP_PAGE_SIZE

        async def fetch(number: int) -> Page[Any]:
            query = [*params, ("pageNumber", str(number)), ("pageSize", str(size))]
            rows = await self._get_json(self.api_url + path, query)
            if not isinstance(rows, list):
                raise ApiError(self.api_name, f"{path} answered no list", method="GET",
                               path=path)
            total, max_page_size = _page_metadata(rows)
            effective = min(size, max_page_size or size)
            last = (not rows or len(rows) < effective
                    or (total is not None and number * effective >= total))
            items, unreadable = [], []
            for row in rows:
                try:
                    items.append(convert(row))
                except UnreadableRecordError as problem:
                    unreadable.append(problem)
            return Page(items, number, total, last, unreadable)

        return Pages(fetch, start_page)

    @staticmethod
    def _modified_filter(modified_since: datetime | None) -> list[tuple[str, str]]:
        if modified_since is None:
            return []
        return [("lastModifiedDateTime", wire.filter_datetime(modified_since)),
                ("lastModifiedDateTimeCondition", ">=")]

    # --- master data -----------------------------------------------------------------------

    def customers(self, modified_since: datetime | None = None, status: str | None = None,
                  page_size: int | None = None, start_page: int = 1) -> Pages[Customer]:
        """Customers changed since `modified_since` (all when None), page by page."""
        params = self._modified_filter(modified_since)
        if status:
            params.append(("status", status))
        return self._erp_pages("/v1/customer", params, page_size, start_page, wire.customer)

    def inventory(self, modified_since: datetime | None = None,
                  inventory_types: Iterable[str] | None = NON_STOCK_TYPES,
                  status: str | None = None, page_size: int | None = None,
                  start_page: int = 1) -> Pages[InventoryItem]:
        """Items (by default the non-stock types, S-12) page by page."""
        params = self._modified_filter(modified_since)
        params += [("inventoryTypes", t) for t in inventory_types or ()]
        if status:
            params.append(("status", status))
        params += list(_NO_EXPANSIONS.items())
        return self._erp_pages("/v1/inventory", params, page_size, start_page,
                               wire.inventory_item)

    async def customer(self, number: str) -> Customer | None:
        found = await self._get_optional(f"{self.api_url}/v1/customer/{_segment(number)}")
        return wire.customer(found[0]) if found else None

    async def customer_by_internal_id(self, internal_id: int) -> Customer | None:
        found = await self._get_optional(f"{self.api_url}/v1/customer/internal/{internal_id}")
        return wire.customer(found[0]) if found else None

    async def item(self, number: str) -> InventoryItem | None:
        found = await self._get_optional(f"{self.api_url}/v1/inventory/{_segment(number)}")
        return wire.inventory_item(found[0]) if found else None

    async def item_by_inventory_id(self, inventory_id: int) -> InventoryItem | None:
        found = await self._get_optional(f"{self.api_url}/v1/inventory/internal/{inventory_id}")
        return wire.inventory_item(found[0]) if found else None

    async def warehouses(self) -> list[Warehouse]:
        """The warehouses; a row without a usable id is left out (nothing can refer to it)."""
        rows = await self._get_json(f"{self.api_url}/v1/warehouse")
        if not isinstance(rows, list):
            raise ApiError(self.api_name, "/v1/warehouse answered no list", method="GET",
                           path="/v1/warehouse")
        found = []
        for row in rows:
            try:
                found.append(wire.warehouse(row))
            except UnreadableRecordError:
                continue
        return found

    async def warehouse(self, warehouse_id: str) -> Warehouse | None:
        found = await self._get_optional(
            f"{self.api_url}/v1/warehouse/{_segment(warehouse_id)}")
        return wire.warehouse(found[0]) if found else None

    async def sales_order_types(self) -> list[SalesOrderType]:
        """The order types; also the settings check's proof that the credentials work (S-71)."""
        pages = self._erp_pages("/v1/salesordertype", [], None, 1, wire.sales_order_type)
        return await pages.all()

    # --- sales orders (v3) -----------------------------------------------------------------

    async def create_sales_order(self, order: NewSalesOrder) -> tuple[str, str]:
        """Create a sales order or quote; returns (type, order id) from `Location`. Never
        repeated once sent: a lost answer raises InDoubtError (find it by `marker`)."""
        response = await self._request(
            "POST", f"{self.sales_order_url}/api/v3/SalesOrders", idempotent=False,
            ok=(201,), json=wire.new_sales_order(order))
        order_type, order_id = wire.created_id(response, 2)
        return order_type, order_id

    def sales_orders(self, order_type: str | None = None,
                     modified_since: datetime | None = None, *, filter_text: str | None = None,
                     page_size: int = V3_PAGE_SIZE, start_page: int = 0
                     ) -> Pages[SalesOrderSummary]:
        """Sales order list rows, oldest change first (`pageIndex` is 0-based)."""
        path = "/api/v3/SalesOrders" + (f"/{_segment(order_type)}" if order_type else "")
        params = [("orderBy", "lastModified asc"), ("pageSize", str(page_size))]
        if modified_since is not None:
            params.append(("modifiedSince", wire.filter_datetime(modified_since)))
        if filter_text:
            params.append(("filter", filter_text))

        async def fetch(index: int) -> Page[SalesOrderSummary]:
            body = await self._get_json(self.sales_order_url + path,
                                        [*params, ("pageIndex", str(index))])
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                rows = []
            items, unreadable = [], []
            for row in rows:
                try:
                    items.append(wire.sales_order_summary(row))
                except UnreadableRecordError as problem:
                    unreadable.append(problem)
            total = body.get("totalCount") if isinstance(body, dict) else None
            more = isinstance(body, dict) and bool(body.get("nextPage"))
            return Page(items, index, wire.whole_number(total), not more or not rows,
                        unreadable)

        return Pages(fetch, start_page)

    async def find_sales_orders(self, filter_text: str, order_type: str | None = None
                                ) -> list[SalesOrderSummary]:
        """Orders whose number, customer order number (our marker) or customer name contain
        `filter_text`, as the service matches them; callers compare `marker` exactly."""
        return await self.sales_orders(order_type, filter_text=filter_text).all()

    async def sales_order(self, order_type: str, order_id: str,
                          expand: Sequence[str] = ("Note", "Customer")) -> SalesOrder | None:
        params = [("expand", ",".join(expand))] if expand else None
        found = await self._get_optional(
            f"{self.sales_order_url}/api/v3/SalesOrders/{_segment(order_type)}/"
            f"{_segment(order_id)}", params)
        if not found:
            return None
        body, response = found
        return wire.sales_order(body, response.headers.get("ETag"))

    async def sales_order_lines(self, order_type: str, order_id: str) -> list[SalesOrderLine]:
        url = (f"{self.sales_order_url}/api/v3/SalesOrders/{_segment(order_type)}/"
               f"{_segment(order_id)}/lines")
        lines: list[SalesOrderLine] = []
        index = 0
        while True:
            body = await self._get_json(url, [("pageSize", "1000"), ("pageIndex", str(index))])
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                rows = []
            # A line that cannot be read makes the order's lines unreadable: none is dropped.
            lines += [wire.sales_order_line(r, f"{order_type} {order_id}") for r in rows]
            if not (isinstance(body, dict) and body.get("nextPage")) or not rows:
                return lines
            index += 1

    # --- customer invoices -----------------------------------------------------------------

    async def create_customer_invoice(self, invoice: NewCustomerInvoice) -> str:
        """Create a customer invoice; returns its reference number. Never repeated once sent
        (find it by `external_reference` after an InDoubtError)."""
        response = await self._request(
            "POST", f"{self.api_url}/v2/customerinvoice", idempotent=False, ok=(201,),
            json=wire.new_customer_invoice(invoice))
        return wire.created_id(response)[0]

    async def customer_invoice(self, reference_number: str) -> CustomerInvoice | None:
        found = await self._get_optional(
            f"{self.api_url}/v1/customerinvoice/{_segment(reference_number)}")
        return wire.customer_invoice(found[0]) if found else None

    async def find_customer_invoice(self, external_reference: str) -> CustomerInvoice | None:
        """The invoice carrying this `externalReference` (a real list filter of
        GET /v1/customerinvoice), or None."""
        pages = self._erp_pages("/v1/customerinvoice",
                                [("externalReference", external_reference)], None, 1,
                                wire.customer_invoice)
        async for invoice in pages.items():
            if invoice.external_reference == external_reference:
                return invoice
        return None

    # --- attachments -----------------------------------------------------------------------

    async def _attach(self, url: str, filename: str, content: bytes,
                      content_type: str) -> str:
        # The same file name on the same document makes a new revision, not a second file,
        # so a repeated upload does no harm: retried like a read.
        response = await self._request(
            "POST", url, ok=(201,), files={"file": (filename, content, content_type)})
        return wire.created_id(response)[0]

    async def attach_to_sales_order(self, order_type: str, order_number: str, filename: str,
                                    content: bytes, content_type: str = "application/pdf"
                                    ) -> str:
        """Upload a file to a sales order; returns the attachment id."""
        return await self._attach(
            f"{self.api_url}/v1/salesorder/orderType/{_segment(order_type)}/"
            f"{_segment(order_number)}/attachment", filename, content, content_type)

    async def attach_to_invoice(self, reference_number: str, filename: str, content: bytes,
                                content_type: str = "application/pdf") -> str:
        return await self._attach(
            f"{self.api_url}/v1/customerinvoice/{_segment(reference_number)}/attachment",
            filename, content, content_type)

    async def attachment(self, attachment_id: str) -> bytes:
        response = await self._request(
            "GET", f"{self.api_url}/v1/attachment/{_segment(attachment_id)}")
        return response.content


def _page_metadata(rows: list[Any]) -> tuple[int | None, int | None]:
    """`totalCount` and `maxPageSize` of an ERP page, from the first row that carries them."""
    for row in rows:
        meta = row.get("metadata") if isinstance(row, dict) else None
        if isinstance(meta, dict):
            size = wire.whole_number(meta.get("maxPageSize"))
            return wire.whole_number(meta.get("totalCount")), size if size and size > 0 else None
    return None, None


def _segment(value: str) -> str:
    """A path segment; ids with reserved characters go as `b64(<base64url>)`."""
    import base64

    if value and all(ch.isalnum() or ch in "-_." for ch in value):
        return value
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return f"b64({encoded})"

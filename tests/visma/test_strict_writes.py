"""The emulator refuses what Visma.net refuses, with Visma.net's error bodies (visma-net.md
sections 3, 6.4, 11): ERP write DTOs without their `{"value": ...}` wrapper, numbers that are
not numbers, fields the v3 schema does not name, tokens without the scope for the call, and
it routes paths in any letter case, as ASP.NET does."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.visma.conftest import seed_basics, token

INVOICE: dict[str, Any] = {
    "customerNumber": {"value": "10001"},
    "documentDate": {"value": "2025-01-27"},
    "externalReference": {"value": "sv:wo-1"},
    "invoiceLines": [
        {"operation": "Insert", "inventoryNumber": {"value": "UUR"},
         "description": {"value": "Arbeid"}, "quantity": {"value": 2},
         "unitPriceInCurrency": {"value": 62.5}},
    ],
}
ORDER: dict[str, Any] = {
    "type": "SO",
    "customer": {"id": "10001", "refNo": "PO-9", "order": "sv:wo-9"},
    "description": "Werkbon 9",
    "orderLines": [{"inventoryId": "UUR", "quantity": 4, "unitPrice": 62.5,
                    "hasManualPrice": True, "warehouseId": "MAIN"}],
}
VALIDATION_TITLE = "One or more validation errors occurred."


def _invoice(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(INVOICE)
    body.update(changes)
    return body


def _line(**changes: Any) -> dict[str, Any]:
    line = copy.deepcopy(INVOICE["invoiceLines"][0])
    line.update(changes)
    return _invoice(invoiceLines=[line])


def _order(line: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    if line is not None:
        body["orderLines"][0].update(line)
    return body


def _validation(details: list[tuple[str, str, str]]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for _, prop, message in details:
        errors.setdefault(prop, []).append(message)
    return {
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": VALIDATION_TITLE, "status": 400, "detail": details[0][2], "errors": errors,
        "details": [{"code": code, "message": message, "parameters": {"property": prop}}
                    for code, prop, message in details],
    }


# --- ERP: the DtoValue wrapper and numbers ----------------------------------------------------

@pytest.mark.parametrize("body, message", [
    (_invoice(customerNumber="10001"),
     "The request is invalid: 'customerNumber' must be given as {\"value\": ...}."),
    (_invoice(documentDate="2025-01-27"),
     "The request is invalid: 'documentDate' must be given as {\"value\": ...}."),
    (_line(quantity=2),
     "The request is invalid: 'invoiceLines[0].quantity' must be given as {\"value\": ...}."),
    (_line(inventoryNumber="UUR"),
     "The request is invalid: 'invoiceLines[0].inventoryNumber' must be given as "
     "{\"value\": ...}."),
    (_invoice(note={"text": "wrong key"}),
     "The request is invalid: 'note' must be given as {\"value\": ...}."),
])
def test_erp_write_without_value_wrapper_is_400_message(emulators, raw, body, message):
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert emulators.call(emulators.visma.received_invoices) == []


@pytest.mark.parametrize("body, message", [
    (_line(quantity={"value": "lots"}),
     "The request is invalid: 'invoiceLines[0].quantity.value' must be a number."),
    (_line(quantity="lots"),
     "The request is invalid: 'invoiceLines[0].quantity' must be given as {\"value\": ...}."),
    (_line(unitPriceInCurrency={"value": "a lot"}),
     "The request is invalid: 'invoiceLines[0].unitPriceInCurrency.value' must be a number."),
    (_line(quantity={"value": True}),
     "The request is invalid: 'invoiceLines[0].quantity.value' must be a number."),
    (_line(quantity={"value": "NaN"}),
     "The request is invalid: 'invoiceLines[0].quantity.value' must be a number."),
    (_invoice(customerNumber={"value": 10001}),
     "The request is invalid: 'customerNumber.value' must be text."),
    (_invoice(documentDate={"value": "27-01-2025"}),
     "The request is invalid: 'documentDate.value' must be a date."),
])
def test_erp_write_with_unreadable_value_is_400_message(emulators, raw, body, message):
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert emulators.call(emulators.visma.received_invoices) == []


def test_erp_numeric_string_is_read_as_the_number(emulators, raw):
    """The ERP's JSON reader reads `"2.5"` into a decimal field, so the emulator does too."""
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json=_line(quantity={"value": "2.5"}))
    assert response.status_code == 201
    reference = response.headers["Location"].rsplit("/", 1)[1]
    line = raw.get(f"/v1/customerinvoice/{reference}").json()["invoiceLines"][0]
    assert line["quantity"] == 2.5 and line["amount"] == 156.25


def test_erp_fields_the_dto_does_not_name_are_ignored(emulators, raw):
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json=_invoice(somethingNew={"value": 1}))
    assert response.status_code == 201


# --- SalesOrders v3: unknown fields and numbers ------------------------------------------------

@pytest.mark.parametrize("body, details", [
    (_order(orderNote="x"), [("0003-InvalidValue", "orderNote",
                              "The JSON property 'orderNote' could not be mapped to any "
                              "member of NewSalesOrderCommand.")]),
    (_order(customer={"id": "10001", "reference": "PO-9"}),
     [("0003-InvalidValue", "customer.reference",
       "The JSON property 'reference' could not be mapped to any member of "
       "NewSalesOrderCustomerDto.")]),
    (_order({"warehouse": "MAIN"}),
     [("0003-InvalidValue", "orderLines[0].warehouse",
       "The JSON property 'warehouse' could not be mapped to any member of "
       "NewSalesOrderLineDto.")]),
    (_order(shipping={"address": {"addressLine1": "Kerkstraat 1"}}),
     [("0003-InvalidValue", "shipping.address.addressLine1",
       "The JSON property 'addressLine1' could not be mapped to any member of "
       "NewSalesOrderAddressDto.")]),
    (_order({"quantity": {"value": 4}}),  # an ERP wrapper where v3 wants plain JSON
     [("0003-InvalidValue", "orderLines[0].quantity",
       "The JSON value of 'orderLines[0].quantity' could not be read: it must be a "
       "number.")]),
])
def test_v3_unknown_field_is_400_validation_problem(emulators, raw, body, details):
    seed_basics(emulators)
    response = raw.post("/api/v3/SalesOrders", json=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json() == _validation(details)
    assert emulators.call(emulators.visma.received_sales_orders) == []


@pytest.mark.parametrize("line, prop", [
    ({"quantity": "lots"}, "orderLines[0].quantity"),
    ({"unitPrice": "lots"}, "orderLines[0].unitPrice"),
    ({"quantity": True}, "orderLines[0].quantity"),
    ({"unitPrice": "Infinity"}, "orderLines[0].unitPrice"),
    ({"quantity": [1]}, "orderLines[0].quantity"),
])
def test_v3_non_numeric_quantity_or_price_is_400(emulators, raw, line, prop):
    seed_basics(emulators)
    response = raw.post("/api/v3/SalesOrders", json=_order(line))
    assert response.status_code == 400
    assert response.json() == _validation([
        ("0003-InvalidValue", prop,
         f"The JSON value of '{prop}' could not be read: it must be a number.")])
    assert emulators.call(emulators.visma.received_sales_orders) == []


def test_v3_numeric_strings_are_read_as_numbers(emulators, raw):
    seed_basics(emulators)
    response = raw.post("/api/v3/SalesOrders",
                        json=_order({"quantity": "4", "unitPrice": "62.50"}))
    assert response.status_code == 201
    lines = raw.get(response.headers["Location"].removeprefix(emulators.url) + "/lines")
    assert [(x["quantity"], x["unitPrice"]) for x in lines.json()["value"]] == [(4.0, 62.5)]


# --- scopes -----------------------------------------------------------------------------------

def _bearer(emulators: Any, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(emulators, scope=scope)}"}


@pytest.mark.parametrize("scope, method, path, body, needed", [
    ("vismanet_erp_service_api:read", "POST", "/v2/customerinvoice", INVOICE,
     "vismanet_erp_service_api:create"),
    ("vismanet_erp_service_api:create", "GET", "/v1/customer", None,
     "vismanet_erp_service_api:read"),
    ("vismanet_erp_service_api:read vismanet_erp_service_api:create", "POST",
     "/v1/customer/action/changeCustomerCd/1", {"customerCd": "20001"},
     "vismanet_erp_service_api:update"),
])
def test_erp_call_without_its_scope_is_403_message(emulators, scope, method, path, body,
                                                   needed):
    seed_basics(emulators)
    response = httpx.request(method, emulators.url + path, json=body,
                             headers=_bearer(emulators, scope))
    assert response.status_code == 403
    assert response.json() == {
        "message": f"The access token does not grant the scope {needed} this request needs."}
    assert emulators.call(emulators.visma.received_invoices) == []


@pytest.mark.parametrize("scope, method, path, body", [
    ("visma.net.erp.salesorder:read", "POST", "/api/v3/SalesOrders", ORDER),
    ("visma.net.erp.salesorder:write", "GET", "/api/v3/SalesOrders", None),
    ("vismanet_erp_service_api:create", "POST", "/api/v3/SalesOrders", ORDER),
])
def test_v3_call_without_its_scope_is_403_without_body(emulators, scope, method, path, body):
    seed_basics(emulators)
    response = httpx.request(method, emulators.url + path, json=body,
                             headers=_bearer(emulators, scope))
    assert response.status_code == 403
    assert response.content == b""  # the v3 spec gives 403 no body
    assert emulators.call(emulators.visma.received_sales_orders) == []


def test_each_scope_allows_its_own_calls(emulators):
    seed_basics(emulators)
    read = _bearer(emulators, "vismanet_erp_interactive_api:read")
    assert httpx.get(emulators.url + "/v1/customer", headers=read).status_code == 200
    create = _bearer(emulators, "vismanet_erp_service_api:create")
    assert httpx.post(emulators.url + "/v2/customerinvoice", json=INVOICE,
                      headers=create).status_code == 201
    write = _bearer(emulators, "visma.net.erp.salesorder:write")
    assert httpx.post(emulators.url + "/api/v3/SalesOrders", json=ORDER,
                      headers=write).status_code == 201


# --- paths in any letter case ------------------------------------------------------------------

def test_paths_are_matched_without_regard_to_case(emulators, raw):
    seed_basics(emulators)
    assert raw.get("/V1/Customer").json() == raw.get("/v1/customer").json()
    assert raw.get("/v1/CUSTOMER/10001").json()["name"] == "Jansen Installatietechniek B.V."
    assert raw.get("/v1/Inventory/UUR").json()["inventoryNumber"] == "UUR"
    created = raw.post("/V2/CustomerInvoice", json=INVOICE)
    assert created.status_code == 201
    reference = created.headers["Location"].rsplit("/", 1)[1]
    assert raw.get(f"/v1/CustomerInvoice/{reference}").json()["referenceNumber"] == reference
    order = raw.post("/api/v3/salesorders", json=ORDER)
    assert order.status_code == 201
    order_id = order.headers["Location"].rsplit("/", 1)[1]
    assert raw.get(f"/API/V3/salesOrders/SO/{order_id}").json()["orderId"] == order_id
    page = raw.get("/api/v3/salesorders/SO", params={"pageSize": "1"}).json()
    assert page["value"][0]["orderId"] == order_id


def test_ids_keep_their_case_and_unknown_paths_are_404(emulators, raw):
    seed_basics(emulators)
    order = raw.post("/api/v3/SalesOrders", json=ORDER).headers["Location"]
    order_id = order.rsplit("/", 1)[1]
    lower_type = raw.get(f"/api/v3/salesorders/so/{order_id}")
    assert lower_type.status_code == 404  # the order type is an id: "so" is not "SO"
    assert lower_type.json()["status"] == 404
    missing = raw.get("/V1/Nothing")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No resource at /V1/Nothing."}


def test_wrong_method_on_a_path_in_another_case_is_405(emulators, raw):
    response = raw.request("DELETE", "/V1/Customer")
    assert response.status_code == 405
    assert response.json() == {"message": "DELETE is not allowed."}


def test_path_case_needs_the_token_too(emulators):
    response = httpx.get(emulators.url + "/V1/Customer")
    assert response.status_code == 401

"""What the emulator accepts on writes, as strictly as Visma.net's published request schemas.

- SalesOrders v3 (`NewSalesOrderCommand` and the objects in it): plain JSON; every schema says
  `additionalProperties: false`, so a field the schema does not name is refused, as is a value
  of the wrong type (a number field holding `"lots"`). Numbers may come as JSON numbers or as
  numeric strings (ASP.NET Core's web defaults read numbers from strings).
- ERP write DTOs (`CustomerInvoiceUpdateDto`, its lines and addresses): every field is a
  DtoValue `{"value": ...}` except the few the spec leaves plain (line `operation`,
  `subaccount`). A bare value where a wrapper belongs is refused, as is a wrapped value of the
  wrong type. Fields the DTO does not name are ignored, as the ERP's JSON reader does.

Field lists are copied by hand from the OpenAPI files (visma-net.md section 0);
tests/visma/test_strict_writes.py checks them against those files.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Kind = str | tuple[str, str]
"""A scalar kind (`string`, `number`, `integer`, `boolean`, `date-time`, `map`, `array`) or
`("object", schema)` / `("array", schema)` for nested schemas."""

V3_SCHEMAS: dict[str, dict[str, Kind]] = {
    "NewSalesOrderCommand": {
        "type": "string", "orderId": "string", "currencyId": "string", "date": "date-time",
        "requestOn": "date-time", "cancelBy": "date-time", "description": "string",
        "status": "string", "customer": ("object", "NewSalesOrderCustomerDto"),
        "print": ("object", "SalesOrderPrintDto"),
        "shipping": ("object", "NewSalesOrderShippingDto"),
        "billing": ("object", "NewSalesOrderBillingDto"),
        "financialInformation": ("object", "NewSalesOrderFinancialInfoDto"),
        "ownerId": "string", "orderLines": ("array", "NewSalesOrderLineDto"),
        "taxZoneId": "string", "note": "string",
        "paymentSettings": ("object", "NewSalesOrderPaymentSettings"),
        "useReplacementCostForMarginAndProfit": "boolean",
        "freight": ("object", "NewSalesOrderFreightDto"), "branchId": "string",
        "originalOrderType": "string", "originalOrderId": "string", "salesPersonId": "string",
        "projectId": "string", "isRotRutDeductible": "boolean",
        "rotRutDetails": ("object", "NewSalesOrderRotRutDetailsDto"),
        "overrideNumberSeries": "boolean",
        "customFields": ("object", "NewSalesOrderCustomFieldsDto"),
    },
    "NewSalesOrderCustomerDto": {
        "id": "string", "contactId": "integer", "order": "string", "refNo": "string",
        "locationId": "string", "termsId": "string", "gln": "string",
    },
    "NewSalesOrderLineDto": {
        "inventoryId": "string", "description": "string", "unitOfMeasure": "string",
        "shippingRule": "string", "quantity": "number", "unitCost": "number",
        "unitPrice": "number", "externalLink": "string", "warehouseId": "string",
        "reasonCode": "string", "taxCategoryId": "string", "undershipThreshold": "number",
        "overshipThreshold": "number", "shipDate": "date-time", "requestDate": "date-time",
        "salesAccountId": "string", "subaccount": "map", "note": "string",
        "discountCode": "string", "discountPercent": "number", "discountAmount": "number",
        "hasManualDiscount": "boolean", "warehouseLocationId": "string",
        "operation": "string", "hasManualPrice": "boolean", "branchId": "string",
        "commissionable": "boolean", "salesPersonId": "string",
        "purchaseOrderSource": "string", "supplierId": "string", "supplierPrice": "number",
        "projectTaskId": "string", "isRotRutDeductible": "boolean", "sortOrder": "integer",
        "invoiceLineNumber": "integer", "invoiceNumber": "string", "invoiceType": "string",
        "customFields": ("object", "NewSalesOrderCustomFieldsDto"),
        "inventoryAlternateId": "string",
    },
    "SalesOrderPrintDto": {
        "descriptionOnInvoice": "boolean", "noteOnInternalDocuments": "boolean",
        "noteOnExternalDocuments": "boolean",
    },
    "NewSalesOrderShippingDto": {
        "scheduledDate": "date-time", "shipSeparately": "boolean", "rule": "string",
        "address": ("object", "NewSalesOrderAddressDto"),
        "contact": ("object", "NewSalesOrderContactDto"), "preferredWarehouseId": "string",
        "intrastatTransactionTypeId": "integer", "shipViaId": "string",
        "residentialDelivery": "boolean", "saturdayDelivery": "boolean",
        "insurance": "boolean", "priority": "integer", "zoneId": "string",
        "fobPointId": "string", "termsId": "string",
    },
    "NewSalesOrderBillingDto": {
        "contact": ("object", "NewSalesOrderContactDto"),
        "address": ("object", "NewSalesOrderAddressDto"),
    },
    "NewSalesOrderAddressDto": {
        "line1": "string", "line2": "string", "line3": "string", "postalCode": "string",
        "city": "string", "countryId": "string", "stateId": "string",
    },
    "NewSalesOrderContactDto": {
        "name": "string", "attention": "string", "phone1": "string", "email": "string",
        "emails": "array",
    },
    "NewSalesOrderFinancialInfoDto": {
        "invoiceSeparately": "boolean", "invoiceDate": "date-time", "invoiceId": "string",
        "postPeriod": "string", "dueDate": "date-time", "cashDiscountDate": "date-time",
    },
    "NewSalesOrderPaymentSettings": {
        "paymentMethodId": "string", "cashAccountId": "string", "paymentReference": "string",
    },
    "NewSalesOrderFreightDto": {
        "cost": "number", "premiumAmount": "number", "taxCategoryId": "string",
    },
    "NewSalesOrderRotRutDetailsDto": {
        "distributedAutomatically": "boolean", "type": "string", "apartment": "string",
        "estate": "string", "organisationNumber": "string",
        "distribution": ("array", "RotRutDistributionDto"),
    },
    "RotRutDistributionDto": {"personalId": "string", "extra": "boolean", "amount": "number"},
    "NewSalesOrderCustomFieldsDto": {
        "customStr1": "string", "customStr2": "string", "customStr3": "string",
        "customStr4": "string", "customStr5": "string", "customDec1": "number",
        "customDec2": "number", "customInt1": "integer", "customInt2": "integer",
        "customDateTimeUtc1": "date-time",
    },
}

# ERP write DTOs: `("value", kind)` is a DtoValue wrapper around `kind`; a bare kind is plain.
ERP_SCHEMAS: dict[str, dict[str, Kind]] = {
    "CustomerInvoiceUpdateDto": {
        **{name: ("value", "string") for name in (
            "paymentMethodId", "creditTermsId", "currencyId", "customerRefNumber",
            "externalReference", "customerProject", "paymentReference", "project",
            "customerVatZoneId", "accountingCostRef", "originatorDocRef", "contractDocRef",
            "debtCollectionCaseNbr", "debtCollectionCaseStatus", "debtCollectionCaseType",
            "debtCollectionCaseUrl", "referenceNumber", "customerNumber",
            "childCustomerNumber", "postPeriod", "financialPeriod", "invoiceText",
            "locationId", "salesperson", "note", "branchNumber",
            "cashAccount", "directDebitMandateId",
        )},
        **{name: ("value", "date-time") for name in (
            "cashDiscountDate", "documentDueDate", "startDate", "endDate", "documentDate",
            "origInvoiceDate",
        )},
        **{name: ("value", "boolean") for name in (
            "domesticServicesDeductibleDocument", "sendToAutoInvoice", "revoked",
            "overrideNumberSeries", "excludeDebtCollection", "consolidateInvoices", "hold",
            "dontPrint", "dontEmail",
        )},
        "exchangeRate": ("value", "number"),
        "contact": ("value", "integer"),
        "salesPersonID": ("value", "integer"),
        "billingAddress": ("value", "SalesInvoiceAddressUpdateDto"),
        "invoiceContact": ("value", "SalesInvoiceContactUpdateDto"),
        "invoiceLines": ("array", "CustomerInvoiceLinesUpdateDto"),
        "taxDetailLines": ("array", "TaxDetailUpdateDto"),
        "rotRutDetails": "object",
    },
    "CustomerInvoiceLinesUpdateDto": {
        "operation": "string",
        "subaccount": ("array", "SegmentUpdateDto"),
        **{name: ("value", "string") for name in (
            "discountCode", "itemType", "typeOfWork", "taskId", "inventoryNumber",
            "description", "accountNumber", "vatCodeId", "uom", "salesperson",
            "deferralCode", "note", "branchNumber",
        )},
        **{name: ("value", "number") for name in (
            "quantity", "unitPriceInCurrency", "manualAmountInCurrency", "discountPercent",
            "discountAmountInCurrency",
        )},
        **{name: ("value", "date-time") for name in (
            "startDate", "endDate", "termStartDate", "termEndDate",
        )},
        "domesticServicesDeductible": ("value", "boolean"),
        "manualDiscount": ("value", "boolean"),
        "lineNumber": ("value", "integer"),
        "deferralSchedule": ("value", "integer"),
    },
    "SalesInvoiceAddressUpdateDto": {
        "overrideAddress": ("value", "boolean"),
        **{name: ("value", "string") for name in (
            "addressLine1", "addressLine2", "addressLine3", "postalCode", "city",
            "countryId", "county",
        )},
    },
    "SalesInvoiceContactUpdateDto": {
        "overrideContact": ("value", "boolean"),
        **{name: ("value", "string") for name in (
            "name", "attention", "email", "phone1",
        )},
    },
    "TaxDetailUpdateDto": {
        "taxId": ("value", "string"),
        "taxableAmount": ("value", "number"),
        "vatAmount": ("value", "number"),
    },
    "SegmentUpdateDto": {"segmentId": "integer", "segmentValue": "string"},
}

_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INTEGER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")


def number_value(value: Any) -> Decimal | None:
    """A JSON number, or a string holding one; None for anything else (`"lots"`, `true`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or not _NUMBER_TEXT.fullmatch(value):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _integer_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None


def _date_ok(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _scalar_problem(kind: str, value: Any) -> str | None:
    """Why `value` is not of scalar `kind` (None when it is, or when it is null)."""
    if value is None:
        return None
    if kind == "string":
        return None if isinstance(value, str) else "must be text"
    if kind == "number":
        return None if number_value(value) is not None else "must be a number"
    if kind == "integer":
        return None if _integer_ok(value) else "must be a whole number"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "date-time":
        return None if _date_ok(value) else "must be a date"
    if kind == "map":
        return None if isinstance(value, dict) else "must be an object"
    if kind in ("array",):
        return None if isinstance(value, list) else "must be a list"
    if kind == "object":
        return None if isinstance(value, dict) else "must be an object"
    return None


def v3_problems(body: Any, schema: str = "NewSalesOrderCommand", path: str = ""
                ) -> list[tuple[str, str, str]]:
    """(code, property, message) for every unknown field and wrongly typed value in `body`."""
    fields = V3_SCHEMAS[schema]
    if not isinstance(body, dict):
        return [("0003-InvalidValue", path or "$", f"'{path or '$'}' must be an object.")]
    problems: list[tuple[str, str, str]] = []
    for name, value in body.items():
        prop = f"{path}.{name}" if path else name
        kind = fields.get(name)
        if kind is None:
            problems.append(("0003-InvalidValue", prop,
                             f"The JSON property '{name}' could not be mapped to any member "
                             f"of {schema}."))
            continue
        if value is None:
            continue
        if isinstance(kind, tuple):
            shape, nested = kind
            if shape == "object":
                problems += v3_problems(value, nested, prop)
            elif not isinstance(value, list):
                problems.append(("0003-InvalidValue", prop, f"'{prop}' must be a list."))
            else:
                for index, item in enumerate(value):
                    problems += v3_problems(item, nested, f"{prop}[{index}]")
            continue
        why = _scalar_problem(kind, value)
        if why:
            problems.append(("0003-InvalidValue", prop,
                             f"The JSON value of '{prop}' could not be read: it {why}."))
    return problems


def erp_problems(body: Any, schema: str, path: str = "") -> list[str]:
    """Why an ERP write DTO cannot be read: fields without their `{"value": ...}` wrapper and
    values of the wrong type. Fields the DTO does not name are ignored."""
    if not isinstance(body, dict):
        return [f"'{path or 'the body'}' must be a JSON object."]
    problems: list[str] = []
    fields = ERP_SCHEMAS[schema]
    for name, value in body.items():
        kind = fields.get(name)
        prop = f"{path}.{name}" if path else name
        if kind is None or value is None:
            continue
        if isinstance(kind, tuple) and kind[0] == "value":
            if not isinstance(value, dict) or "value" not in value:
                problems.append(f"'{prop}' must be given as {{\"value\": ...}}.")
                continue
            inner, inner_kind = value["value"], kind[1]
            if inner is None:
                continue
            if inner_kind in ERP_SCHEMAS:
                problems += erp_problems(inner, inner_kind, f"{prop}.value")
            else:
                why = _scalar_problem(inner_kind, inner)
                if why:
                    problems.append(f"'{prop}.value' {why}.")
        elif isinstance(kind, tuple):  # ("array", schema)
            if not isinstance(value, list):
                problems.append(f"'{prop}' must be a list.")
                continue
            for index, item in enumerate(value):
                problems += erp_problems(item, kind[1], f"{prop}[{index}]")
        else:
            why = _scalar_problem(kind, value)
            if why:
                problems.append(f"'{prop}' {why}.")
    return problems

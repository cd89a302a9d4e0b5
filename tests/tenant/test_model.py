"""The VismaIntegration spec and status models and the tenant file loader (S-70 and friends)."""

from __future__ import annotations

import copy
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcilers.resource.durations import (
    DURATION_MAX,
    DURATION_MAX_LENGTH,
    DURATION_MIN,
    DURATION_PATTERN,
    DURATION_TOO_LONG_PATTERN,
    format_duration,
    parse_duration,
)
from reconcilers.resource.spec import (
    API_VERSION,
    Attachments,
    CustomerReference,
    DocumentType,
    Note,
    PdfSource,
    Schedule,
    TenantFileError,
    TenantSpecError,
    VismaIntegrationSpec,
    WipeKind,
)
from reconcilers.resource.status import (
    Condition,
    ConditionStatus,
    RecentError,
    VismaIntegrationStatus,
)
from reconcilers.resource.tenant import Tenant, load_tenant, tenant_from_body

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TENANT = ROOT / "examples" / "tenant.yaml"


def minimal_body() -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "VismaIntegration",
        "metadata": {"name": "acme", "namespace": "tenant-acme"},
        "spec": {
            "visma": {"tenantId": "6f1c-guid", "credentialsSecretRef": {"name": "acme-visma"}},
            "simon": {
                "url": "https://simon.example/api",
                "credentialsSecretRef": {"name": "acme-simon"},
            },
            "orders": {"documentType": "Invoice"},
        },
    }


def refused(body: dict[str, Any]) -> TenantSpecError:
    with pytest.raises(TenantSpecError) as caught:
        tenant_from_body(body)
    message = str(caught.value)
    assert "\n" not in message, "the message must be one line"
    return caught.value


# --------------------------------------------------------------------------- loading


def test_full_example_loads() -> None:
    """S-70: every setting of the example tenant lives in its spec and is read as written."""
    tenant = load_tenant(EXAMPLE_TENANT)
    assert tenant.key == "tenant-acme/acme"
    spec = tenant.spec
    assert spec.enabled is True
    assert spec.visma.tenant_id.startswith("6f1c")
    assert spec.visma.company_id == "1234567"
    assert spec.visma.credentials_secret_ref.name == "acme-visma"
    assert spec.simon.credentials_secret_ref.name == "acme-simon"
    assert spec.schedule.master_data == timedelta(minutes=2)
    assert spec.schedule.orders == timedelta(seconds=30)
    assert spec.schedule.cleanup == timedelta(hours=48)
    assert spec.orders.document_type is DocumentType.SALES_ORDER
    assert spec.orders.work_time_item == "UUR"
    assert spec.orders.travel_time_item == "REIS"
    assert spec.orders.fixed_item == "VOORRIJ"
    assert spec.orders.skip_word == "NIETFACTUREREN"
    assert spec.orders.default_warehouse == "MAIN"
    assert spec.orders.warehouse_by_user["jan@acme.example"] == "BUS1"
    assert spec.imports.sales_orders.enabled is True
    assert spec.activation.wipe_on_first_activation == list(WipeKind)


def test_minimal_example_fills_defaults(tmp_path: Path) -> None:
    """S-70, S-72, S-47..S-49, S-60, S-30: a minimal spec gets DESIGN's defaults."""
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump(minimal_body()))
    spec = load_tenant(path).spec
    assert spec.enabled is True
    assert spec.visma.api_url == "https://api.finance.visma.net"
    assert spec.visma.sales_order_url == "https://salesorder.visma.net"
    assert spec.visma.token_url == "https://connect.visma.com/connect/token"
    assert spec.visma.company_id is None
    assert spec.schedule.master_data == timedelta(minutes=2)
    assert spec.schedule.orders == timedelta(seconds=30)
    assert spec.schedule.imports == timedelta(minutes=2)
    assert spec.schedule.cleanup == timedelta(hours=48)
    assert spec.activation.wipe_on_first_activation == [
        WipeKind.CUSTOMERS, WipeKind.ITEMS, WipeKind.WORK_ADDRESSES,
    ]
    assert spec.activation.wipe_on_reactivation == []
    orders = spec.orders
    assert orders.work_time_item is None and orders.travel_time_item is None
    assert orders.fixed_item is None and orders.skip_word is None
    assert orders.note is Note.WORK_ADDRESS_AND_DESCRIPTION
    assert orders.customer_reference is CustomerReference.BOTH
    assert orders.attachments is Attachments.BOTH
    assert orders.pdf_source is PdfSource.RENDERED
    assert orders.default_warehouse is None and orders.warehouse_by_user == {}
    assert spec.imports.sales_orders.model_dump() == {
        "enabled": False, "filter_word": "SIMON", "include_lines": True,
    }
    assert spec.imports.quotes.model_dump() == {
        "enabled": False, "filter_word": "SIMON", "include_lines": False,
    }


def test_spec_round_trips_through_the_wire_form() -> None:
    """S-70: what the model writes back (camelCase, durations as strings) reads the same."""
    tenant = load_tenant(EXAMPLE_TENANT)
    wire = tenant.spec.to_wire()
    assert wire["schedule"] == {"masterData": "2m", "orders": "30s", "imports": "2m",
                                "cleanup": "48h"}
    assert wire["orders"]["defaultWarehouse"] == "MAIN"
    assert VismaIntegrationSpec.model_validate(wire) == tenant.spec


def test_snake_case_names_populate_too() -> None:
    """populate_by_name: Python code may build a spec with snake_case names."""
    spec = VismaIntegrationSpec(
        visma={"tenant_id": "t", "credentials_secret_ref": {"name": "v"}},
        simon={"url": "http://127.0.0.1:8080/api", "credentials_secret_ref": {"name": "s"}},
        orders={"document_type": "Invoice"},
        schedule={"master_data": "5m"},
    )
    assert spec.schedule.master_data == timedelta(minutes=5)


def test_body_from_kopf() -> None:
    """The operator decodes kopf's body (a Mapping, with status and system metadata)."""
    raw = minimal_body()
    raw["metadata"].update(uid="1234-abcd", generation=3, resourceVersion="99",
                           managedFields=[{"manager": "kubectl"}],
                           annotations={"kopf.zalando.org/last-handled-configuration": "{}"})
    raw["status"] = {"kopf": {"progress": {}}, "observedGeneration": 2}
    tenant = Tenant.from_body(kopf.Body(raw))
    assert tenant.key == "tenant-acme/acme"
    assert tenant.uid == "1234-abcd" and tenant.generation == 3
    assert tenant.spec.orders.document_type is DocumentType.INVOICE


def test_missing_namespace_means_default(tmp_path: Path) -> None:
    """Like kubectl, a file without metadata.namespace targets the default namespace."""
    body = minimal_body()
    del body["metadata"]["namespace"]
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump(body))
    assert load_tenant(path).key == "default/acme"


def test_nulls_are_left_out_like_the_api_server_does() -> None:
    """An empty YAML value (null) is pruned, so a defaulted field gets its default."""
    body = minimal_body()
    body["spec"]["enabled"] = None
    body["spec"]["orders"]["workTimeItem"] = None
    tenant = tenant_from_body(body)
    assert tenant.spec.enabled is True and tenant.spec.orders.work_time_item is None


def test_file_with_secrets_and_list(tmp_path: Path) -> None:
    """One file may hold the Secrets too, and a kind: List; exactly one VismaIntegration."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "acme-visma"}}
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(
        [secret, {"apiVersion": "v1", "kind": "List", "items": [minimal_body()]}, None]
    ))
    assert load_tenant(path).name == "acme"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the tenant file"),
        ("spec: [unclosed", "not valid YAML (line"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n", "no VismaIntegration resource"),
        ("- just\n- a list\n", "document 1 is not a Kubernetes object"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "document 1 has no kind"),
    ],
)
def test_tenant_file_errors(tmp_path: Path, content: str | None, expected: str) -> None:
    """A bad tenant file is one clear line naming the file (CLI exit code 2)."""
    path = tmp_path / "tenant.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TenantFileError) as caught:
        load_tenant(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


BOMB = "".join(
    [f"  a0: &a0 [{', '.join(['lol'] * 10)}]\n"]
    + [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 10)]
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"\x00\x01\x02binary", "a binary file, not YAML text", id="binary"),
        pytest.param("naam: caf\xe9\n".encode("latin-1"), "not a UTF-8 text file", id="latin-1"),
        pytest.param(b"# padding\n" * 110_000, "larger than 1 MiB", id="huge"),
        pytest.param(f"apiVersion: {API_VERSION}\nkind: VismaIntegration\nspec:\n{BOMB}"
                     "  bomb: *a9\n".encode(), "once its aliases (*name) are expanded",
                     id="alias-bomb"),
        pytest.param(b"a: &a [*a]\n", "once its aliases (*name) are expanded",
                     id="recursive-alias"),
        pytest.param(b"spec: " + b"[" * 300 + b"]" * 300, "nested more than 64 levels deep",
                     id="deep"),
    ],
)
def test_tenant_files_out_of_bounds(tmp_path: Path, content: bytes, expected: str) -> None:
    """A tenant file is read only up to 1 MiB, as text, with bounded nesting and no alias
    blow-up: each of these is one line, quickly, and in little memory."""
    path = tmp_path / "tenant.yaml"
    path.write_bytes(content)
    with pytest.raises(TenantFileError) as caught:
        load_tenant(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_device_or_fifo_is_not_read(tmp_path: Path) -> None:
    """/dev/zero would never end and a FIFO nobody writes to would block: both are refused
    before anything is read."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        with pytest.raises(TenantFileError, match="not a regular file"):
            load_tenant(path)


def test_aliases_within_bounds_still_work(tmp_path: Path) -> None:
    """An anchor reused a few times (a shared Secret name) is ordinary YAML and stays
    allowed."""
    body = minimal_body()
    path = tmp_path / "tenant.yaml"
    text = yaml.safe_dump(body)  # keys sorted: simon before visma
    text = text.replace("name: acme-simon", "name: &secret acme-simon")
    path.write_text(text.replace("name: acme-visma", "name: *secret"))
    assert load_tenant(path).spec.visma.credentials_secret_ref.name == "acme-simon"


def test_two_tenants_in_one_file(tmp_path: Path) -> None:
    """A tenant file holds exactly one VismaIntegration."""
    other = minimal_body()
    other["metadata"]["name"] = "beta"
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump_all([minimal_body(), other]))
    with pytest.raises(TenantFileError, match=r"holds 2 VismaIntegration resources \(acme, beta\)"):
        load_tenant(path)


def test_field_errors_from_a_file_name_the_field(tmp_path: Path) -> None:
    """S-50: the message names the field path, and the error carries the file."""
    body = minimal_body()
    body["spec"]["orders"] = {"documentType": "SalesOrder"}
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(TenantFileError) as caught:
        load_tenant(path)
    assert str(caught.value) == (
        "spec.orders.defaultWarehouse: required when documentType is SalesOrder"
    )
    assert caught.value.field == "spec.orders.defaultWarehouse"
    assert caught.value.path == path


# --------------------------------------------------------------------------- refusals


def _set(path: str, value: Any) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return mutate


def _drop(path: str) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


REFUSALS = [
    # S-50 / S-40: the cross-field rule.
    pytest.param(_set("spec.orders", {"documentType": "SalesOrder"}),
                 "spec.orders.defaultWarehouse: required when documentType is SalesOrder",
                 id="sales-order-without-warehouse"),
    # S-40, S-47, S-48, S-49, S-72: enums.
    pytest.param(_set("spec.orders.documentType", "Salesorder"),
                 "spec.orders.documentType: must be SalesOrder or Invoice, not 'Salesorder'",
                 id="bad-document-type"),
    pytest.param(_set("spec.orders.note", "Address"),
                 "spec.orders.note: must be None, WorkAddress, WorkDescription or "
                 "WorkAddressAndDescription", id="bad-note"),
    pytest.param(_set("spec.orders.customerReference", "Number"),
                 "spec.orders.customerReference: must be None, WorkOrderNumber, "
                 "CustomerReference or Both", id="bad-customer-reference"),
    pytest.param(_set("spec.orders.attachments", "All"),
                 "spec.orders.attachments: must be None, WorkOrder, Forms or Both",
                 id="bad-attachments"),
    pytest.param(_set("spec.orders.pdfSource", "simon"),
                 "spec.orders.pdfSource: must be Rendered or Simon", id="bad-pdf-source"),
    pytest.param(_set("spec.activation.wipeOnFirstActivation", ["Customers", "Orders"]),
                 "spec.activation.wipeOnFirstActivation[1]: must be Customers, Items or "
                 "WorkAddresses, not 'Orders'", id="bad-wipe-kind"),
    pytest.param(_set("spec.activation.wipeOnReactivation", ["Items", "Items"]),
                 "spec.activation.wipeOnReactivation: lists Items twice", id="duplicate-wipe"),
    # Durations.
    pytest.param(_set("spec.schedule.orders", "30 s"),
                 "spec.schedule.orders: '30 s' is not a duration; use a duration like 30s, 2m "
                 "or 48h", id="bad-duration"),
    pytest.param(_set("spec.schedule.cleanup", "2d"),
                 "spec.schedule.cleanup: '2d' is not a duration; use a duration like 30s, 2m "
                 "or 48h", id="days-are-no-unit"),
    pytest.param(_set("spec.schedule.masterData", 120),
                 "spec.schedule.masterData: must be a duration string; use a duration like "
                 "30s, 2m or 48h", id="number-duration"),
    pytest.param(_set("spec.schedule.imports", "0s"),
                 "spec.schedule.imports: must be at least 10s, not '0s'", id="zero-duration"),
    # Required fields.
    pytest.param(_drop("spec.visma.tenantId"), "spec.visma.tenantId: required",
                 id="missing-tenant-id"),
    pytest.param(_drop("spec.visma.credentialsSecretRef"),
                 "spec.visma.credentialsSecretRef: required", id="missing-visma-secret"),
    pytest.param(_drop("spec.simon.url"), "spec.simon.url: required", id="missing-simon-url"),
    pytest.param(_drop("spec.simon.credentialsSecretRef"),
                 "spec.simon.credentialsSecretRef: required", id="missing-simon-secret"),
    pytest.param(_drop("spec.orders"), "spec.orders: required", id="missing-orders"),
    pytest.param(_drop("spec.orders.documentType"), "spec.orders.documentType: required",
                 id="missing-document-type"),
    pytest.param(_set("spec.visma.tenantId", None), "spec.visma.tenantId: required",
                 id="empty-tenant-id"),
    pytest.param(_drop("spec"), "spec: required", id="missing-spec"),
    pytest.param(_drop("metadata.name"), "metadata.name: required", id="missing-name"),
    # Unknown fields: typos are errors.
    pytest.param(_set("spec.orders.defaultWarehous", "MAIN"),
                 "spec.orders.defaultWarehous: unknown field; did you mean defaultWarehouse?",
                 id="typo-in-orders"),
    pytest.param(_set("spec.schedule.masterdata", "2m"),
                 "spec.schedule.masterdata: unknown field; did you mean masterData?",
                 id="typo-in-case"),
    pytest.param(_set("spec.visma.credentialsSecretRef.namespace", "other"),
                 "spec.visma.credentialsSecretRef.namespace: unknown field: Secrets are read "
                 "only from the resource's own namespace", id="secret-in-other-namespace"),
    pytest.param(_set("sepc", {}), "sepc: unknown field; did you mean spec?",
                 id="typo-at-top-level"),
    # Types and formats.
    pytest.param(_set("spec.enabled", "yes"), "spec.enabled: must be true or false, not 'yes'",
                 id="string-bool"),
    pytest.param(_set("spec.visma.companyId", 1234567),
                 "spec.visma.companyId: must be a string, not 1234567; put it in quotes",
                 id="unquoted-number"),
    pytest.param(_set("spec.simon.url", "simon.example/api"),
                 "spec.simon.url: must be an http(s) URL like https://simon.example/api",
                 id="url-without-scheme"),
    pytest.param(_set("spec.visma.apiUrl", "ftp://api.finance.visma.net"),
                 "spec.visma.apiUrl: must be an http(s) URL", id="url-wrong-scheme"),
    pytest.param(_set("spec.orders.workTimeItem", ""),
                 "spec.orders.workTimeItem: must not be empty", id="empty-item"),
    pytest.param(_set("spec.orders.warehouseByUser", {"jan@acme.example": ""}),
                 'spec.orders.warehouseByUser["jan@acme.example"]: must not be empty',
                 id="empty-warehouse-for-user"),
    pytest.param(_set("spec.visma.credentialsSecretRef.name", "Acme_Visma"),
                 "spec.visma.credentialsSecretRef.name: must be a Secret name",
                 id="bad-secret-name"),
    pytest.param(_set("spec.orders", "SalesOrder"),
                 "spec.orders: must be a mapping (key: value), not 'SalesOrder'",
                 id="scalar-for-object"),
    pytest.param(_set("apiVersion", "simon-visma.io/v1"),
                 "apiVersion: must be simon-visma.io/v1alpha1, not 'simon-visma.io/v1'",
                 id="wrong-api-version"),
]


@pytest.mark.parametrize(("mutate", "expected"), REFUSALS)
def test_refused_with_the_field_named(mutate: Any, expected: str) -> None:
    """S-70, S-40, S-47..S-50, S-72, S-82: what the API server refuses, the model refuses,
    with one line that starts with the offending field path."""
    body = copy.deepcopy(minimal_body())
    mutate(body)
    error = refused(body)
    assert str(error).startswith(expected), str(error)
    assert error.field is not None and str(error).startswith(error.field + ":")


def test_several_problems_in_one_line() -> None:
    body = minimal_body()
    body["spec"] = {"enabled": True}
    assert str(refused(body)) == "spec.visma: required; spec.simon: required; spec.orders: required"


def test_invoice_needs_no_warehouse() -> None:
    """S-50: invoices have no warehouse."""
    body = minimal_body()
    body["spec"]["orders"]["warehouseByUser"] = {"jan@acme.example": "BUS1"}
    orders = tenant_from_body(body).spec.orders
    assert orders.default_warehouse is None


def test_spec_is_immutable() -> None:
    """S-51: settings are read, never changed behind the resource's back."""
    spec = load_tenant(EXAMPLE_TENANT).spec
    with pytest.raises(ValueError):
        spec.enabled = False  # type: ignore[misc]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("30s", timedelta(seconds=30), "30s"),
        ("2m", timedelta(minutes=2), "2m"),
        ("48h", timedelta(hours=48), "48h"),
        ("1h30m", timedelta(minutes=90), "1h30m"),
        ("90m", timedelta(minutes=90), "1h30m"),
        ("1.5s", timedelta(seconds=1.5), "1.5s"),
        ("500ms", timedelta(milliseconds=500), "500ms"),
        ("1h0m0s", timedelta(hours=1), "1h"),
        ("2m30s", timedelta(seconds=150), "2m30s"),
        ("0.5h", timedelta(minutes=30), "30m"),
    ],
)
def test_durations(text: str, value: timedelta, canonical: str) -> None:
    """Go-style durations are parsed to timedelta and written back as short strings."""
    assert parse_duration(text) == value
    assert format_duration(value) == canonical
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("99999999999999h", "must be at most 168h (7 days), not '99999999999999h'"),
        ("999999999h", "must be at most 168h (7 days), not '999999999h'"),
        ("9" * 31 + "h", "must be at most 168h (7 days)"),
        ("168h0.001s", "must be at most 168h (7 days)"),
        ("8d", "'8d' is not a duration"),
        ("1ms", "must be at least 10s, not '1ms'"),
        ("9s", "must be at least 10s, not '9s'"),
        ("9999ms", "must be at least 10s, not '9999ms'"),
        ("0.0001ms", "must be at least 10s, not '0.0001ms'"),
        ("-5m", "'-5m' is not a duration"),
        ("5x", "'5x' is not a duration"),
    ],
)
def test_schedule_durations_are_bounded(duration: str, expected: str) -> None:
    """A schedule interval is 10s .. 7 days: out of range is one line naming the field (and
    never an OverflowError, however many digits)."""
    body = minimal_body()
    body["spec"]["schedule"] = {"cleanup": duration}
    message = str(refused(body))
    assert message.startswith("spec.schedule.cleanup: ") and expected in message


@pytest.mark.parametrize("value", [DURATION_MIN, DURATION_MAX, timedelta(hours=48)])
def test_schedule_bounds_themselves_are_allowed(value: timedelta) -> None:
    body = minimal_body()
    body["spec"]["schedule"] = {"orders": format_duration(value)}
    assert tenant_from_body(body).spec.schedule.orders == value


def test_a_too_long_timedelta_is_refused_too() -> None:
    """Python callers pass timedeltas: the same bounds hold."""
    with pytest.raises(ValueError, match="must be at most 168h"):
        Schedule(orders=timedelta(days=8))


@pytest.mark.parametrize(
    "text", ["", "30", "30 s", " 30s", "30s ", "30s\n", "1d", "-5s", "+5s", "s", "1.s", ".5s",
             "5us", "1w", "0"],
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="use a duration like 30s, 2m or 48h"):
        parse_duration(text)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(DURATION_PATTERN, fullmatch=True) | st.text(alphabet="0123456789.hmsu +-d"))
def test_the_model_reads_exactly_what_the_crd_pattern_accepts(text: str) -> None:
    """What the CRD's pattern lets through is a duration to the model too (refused, if at all,
    for its length or its bounds), and what the pattern refuses the model refuses as such."""
    matches = len(text) <= DURATION_MAX_LENGTH and re.fullmatch(DURATION_PATTERN, text)
    try:
        parse_duration(text)
    except ValueError as exc:
        assert ("is not a duration" in str(exc)) != bool(matches), str(exc)
    else:
        assert matches


# --------------------------------------------------------------------------- status


NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def test_status_reads_what_the_operator_and_kopf_wrote() -> None:
    """S-81: status is read back (kopf's own fields are ignored) and written camelCase."""
    status = VismaIntegrationStatus.model_validate({
        "observedGeneration": 3,
        "conditions": [{"type": "Ready", "status": "True", "reason": "AllSynced",
                        "message": "", "lastTransitionTime": "2025-05-01T12:00:00Z"}],
        "masterData": {"lastSuccessTime": "2025-05-01T12:00:00Z", "customers": 120,
                       "items": 40, "workAddresses": 130,
                       "highestModified": {"customers": "2025-05-01T11:59:00Z"},
                       "progress": {"customers": {"done": 100, "total": 120}}},
        "cleanup": {"removed": {"customers": 1, "items": 0, "workAddresses": 2}},
        "orders": {"sent": 5, "failed": 1, "waiting": 0, "passedOver": 12},
        "imports": {"imported": 2},
        "activation": {"activatedAt": "2025-05-01T10:00:00Z", "wiped": ["Customers"]},
        "recentErrors": [{"time": "2025-05-01T11:00:00Z", "table": "work order",
                          "key": "WO-1", "message": "no customer",
                          "action": "link the work order to a customer from Visma.net"}],
        "kopf": {"progress": {}},
        "on_create": {"done": True},
    })
    assert status.error_count == 1
    assert status.master_data is not None and status.master_data.customers == 120
    assert status.get_condition("Ready") is not None
    wire = status.to_wire()
    assert "kopf" not in wire and wire["errorCount"] == 1
    assert wire["masterData"]["lastSuccessTime"] == "2025-05-01T12:00:00Z"
    assert wire["orders"] == {"sent": 5, "failed": 1, "waiting": 0, "passedOver": 12}


def test_status_fields_are_all_optional() -> None:
    assert VismaIntegrationStatus().to_wire() == {}


def test_recent_errors_keep_ten_and_count() -> None:
    """S-80, S-81: at most 10 recent errors; errorCount feeds the Errors column."""
    status = VismaIntegrationStatus()
    for number in range(12):
        status.record_error(RecentError(time=NOW, message=f"error {number}"))
    assert status.recent_errors is not None and len(status.recent_errors) == 10
    assert status.recent_errors[-1].message == "error 11"
    assert status.to_wire()["errorCount"] == 10
    with pytest.raises(ValueError):
        VismaIntegrationStatus.model_validate(
            {"recentErrors": [{"time": NOW, "message": "x"}] * 11}
        )


def test_set_condition_moves_transition_time_only_on_change() -> None:
    """S-81: metav1.Condition semantics."""
    status = VismaIntegrationStatus()
    assert status.set_condition("SettingsValid", True, "Checked", "ok", now=NOW)
    later = NOW + timedelta(minutes=5)
    assert not status.set_condition("SettingsValid", True, "Checked", "ok", now=later)
    assert status.set_condition("SettingsValid", True, "Checked", "still ok", now=later)
    condition = status.get_condition("SettingsValid")
    assert condition is not None and condition.last_transition_time == NOW
    assert status.set_condition("SettingsValid", False, "ItemMissing", "no UUR", now=later)
    condition = status.get_condition("SettingsValid")
    assert condition is not None and condition.status is ConditionStatus.FALSE
    assert condition.last_transition_time == later
    assert len(status.conditions or []) == 1


def test_condition_reason_is_camel_case() -> None:
    with pytest.raises(ValueError):
        Condition(type="Ready", status="True", reason="not ok", message="",
                  last_transition_time=NOW)


_NANOSECONDS = {"h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000,
                "ms": 1_000_000}


def _nanoseconds(text: str) -> Decimal:
    """A duration in nanoseconds, exactly (no float, no overflow)."""
    return sum((Decimal(number) * _NANOSECONDS[unit] for number, _, unit in
                re.findall(r"([0-9]+([.][0-9]+)?)(ms|s|m|h)", text)), Decimal(0))


@settings(max_examples=500, deadline=None)
@given(st.from_regex(DURATION_PATTERN, fullmatch=True).filter(
    lambda text: len(text) <= DURATION_MAX_LENGTH))
def test_the_crd_reads_no_duration_cel_cannot(text: str) -> None:
    """The CRD's bounds refuse a duration with a very long number in it before CEL's
    `duration()` reads it: such a duration is always longer than 7 days, and every other one
    fits CEL's durations (Go's, int64 nanoseconds), so the rule never fails to evaluate."""
    nanoseconds = _nanoseconds(text)
    if re.search(DURATION_TOO_LONG_PATTERN, text):
        assert nanoseconds > _NANOSECONDS["h"] * 168
    else:
        assert nanoseconds < 2**63


@pytest.mark.parametrize("text", ["99999999999999h", "100000h", "100000m", "1000000s",
                                  "1000000000ms", "1h1000000s", "2m100000m"])
def test_long_numbers_are_too_long_for_the_crd(text: str) -> None:
    assert re.search(DURATION_TOO_LONG_PATTERN, text)


@pytest.mark.parametrize("text", ["168h", "99999.5s", "10080m", "604800s", "604800000ms",
                                  "1.1234567h", "30s", "1h30m"])
def test_durations_up_to_seven_days_are_not_too_long_for_the_crd(text: str) -> None:
    assert not re.search(DURATION_TOO_LONG_PATTERN, text)

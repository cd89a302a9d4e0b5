"""The CRD and the pydantic models describe one API and must never drift apart.

The walk below goes through the CRD's openAPIV3Schema and the models' JSON schema together
and asserts, at every level, the same field names, types, enums, patterns, length limits,
defaults (after the API server's defaulting) and required fields. DESIGN.md section 2: "the
pydantic model mirrors the CRD and a test keeps the two in step".
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from reconcilers.resource.durations import DURATION_PATTERN
from reconcilers.resource.spec import API_VERSION, URL_PATTERN, VismaIntegrationSpec
from reconcilers.resource.status import VismaIntegrationStatus
from reconcilers.resource.tenant import load_tenant, tenant_from_body
from tests.tenant.test_model import NOW, REFUSALS, minimal_body

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "vismaintegrations.yaml"
CHART_CRD_PATH = ROOT / "charts" / "simon-visma" / "crds" / "vismaintegrations.yaml"
MISSING = object()


@functools.cache
def load_crd() -> dict[str, Any]:
    """The CRD as parsed YAML (cached: treat it as read-only)."""
    return yaml.safe_load(CRD_PATH.read_text())


def crd_schema() -> dict[str, Any]:
    (version,) = load_crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


# --------------------------------------------------------------------------- helpers


def py_node(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON-schema node with $ref and `X | None` resolved (siblings kept)."""
    node = dict(node)
    while True:
        if "$ref" in node:
            target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**target, **node}
        elif "anyOf" in node:
            options = [option for option in node.pop("anyOf") if option.get("type") != "null"]
            assert len(options) == 1, f"unexpected union {options}"
            node = {**options[0], **node}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node.pop("allOf")[0], **node}
        else:
            return node


def crd_defaulted(node: dict[str, Any], value: Any) -> Any:
    """Apply the API server's structural defaulting to `value` under `node`."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = crd_defaulted(child, value[name])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                value[key] = crd_defaulted(extra, value[key])
    elif isinstance(value, list) and "items" in node:
        value = [crd_defaulted(node["items"], item) for item in value]
    return value


def crd_default(node: dict[str, Any]) -> Any:
    return crd_defaulted(node, node["default"]) if "default" in node else MISSING


COMPARED_KEYWORDS = ("type", "enum", "pattern", "format", "minLength", "maxLength", "maxItems",
                     "minimum", "maximum")


def assert_in_step(crd: dict[str, Any], py: dict[str, Any], defs: dict[str, Any],
                   path: str) -> None:
    py = py_node(py, defs)
    for keyword in COMPARED_KEYWORDS:
        assert crd.get(keyword) == py.get(keyword), (
            f"{path}: {keyword} differs: CRD {crd.get(keyword)!r}, model {py.get(keyword)!r}"
        )
    py_default = py.get("default", MISSING)
    if py_default is None:
        py_default = MISSING  # `X | None = None` is "no default"
    assert crd_default(crd) == py_default, (
        f"{path}: default differs: CRD {crd_default(crd)!r}, model {py_default!r}"
    )
    is_set = crd.get("x-kubernetes-list-type") == "set"
    assert is_set == bool(py.get("uniqueItems")), f"{path}: set-ness differs"

    if crd.get("type") == "object":
        crd_props = crd.get("properties", {})
        py_props = py.get("properties", {})
        assert sorted(crd_props) == sorted(py_props), (
            f"{path}: fields differ: only in CRD {sorted(set(crd_props) - set(py_props))}, "
            f"only in model {sorted(set(py_props) - set(crd_props))}"
        )
        assert sorted(crd.get("required", [])) == sorted(py.get("required", [])), (
            f"{path}: required differs: CRD {crd.get('required')}, model {py.get('required')}"
        )
        for name in crd_props:
            assert_in_step(crd_props[name], py_props[name], defs, f"{path}.{name}")
        crd_extra = crd.get("additionalProperties")
        py_extra = py.get("additionalProperties")
        if isinstance(crd_extra, dict) or isinstance(py_extra, dict):
            assert isinstance(crd_extra, dict) and isinstance(py_extra, dict), (
                f"{path}: only one side is a map"
            )
            assert_in_step(crd_extra, py_extra, defs, f"{path}.*")
    if crd.get("type") == "array":
        assert "items" in crd and "items" in py, f"{path}: list without items"
        assert_in_step(crd["items"], py["items"], defs, f"{path}[]")


def walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


def unknown_fields(node: dict[str, Any], value: Any, path: str) -> list[str]:
    """What the API server would prune (and `--validate=strict` refuses)."""
    found: list[str] = []
    if isinstance(value, dict) and node.get("type") == "object":
        if node.get("x-kubernetes-preserve-unknown-fields"):
            return found
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key == "metadata":
                continue  # ObjectMeta: the API server's own schema
            if key in props:
                found += unknown_fields(props[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(extra, item, f"{path}.{key}")
            else:
                found.append(f"{path}.{key}".lstrip("."))
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            found += unknown_fields(node["items"], item, f"{path}[{index}]")
    return found


def schema_errors(body: dict[str, Any]) -> list[str]:
    """OpenAPI validation of `body` after defaulting, as the API server does (without CEL)."""
    schema = crd_schema()
    defaulted = crd_defaulted(schema, body)
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [error.message for error in validator.iter_errors(defaulted)]


# --------------------------------------------------------------------------- the resource


def test_crd_names_the_resource_as_designed() -> None:
    """DESIGN 2: group, version, kind, names, scope, status subresource."""
    crd = load_crd()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "vismaintegrations.simon-visma.io"
    spec = crd["spec"]
    assert spec["group"] == "simon-visma.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "VismaIntegration", "listKind": "VismaIntegrationList",
        "plural": "vismaintegrations", "singular": "vismaintegration",
        "shortNames": ["vi"], "categories": ["simon-visma"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert f"{spec['group']}/{version['name']}" == API_VERSION
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True, "kopf needs it"
    assert "--validate=strict" in version["schema"]["openAPIV3Schema"]["description"]


def test_chart_carries_the_same_crd() -> None:
    assert CHART_CRD_PATH.read_bytes() == CRD_PATH.read_bytes()


def test_printer_columns() -> None:
    """S-81: `kubectl get vismaintegrations` shows the essentials."""
    (version,) = load_crd()["spec"]["versions"]
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    assert list(columns) == ["Active", "Ready", "Customers", "Items", "Last-Sync", "Last-Push",
                             "Errors", "Age"]
    assert columns["Active"]["jsonPath"] == '.status.conditions[?(@.type=="Active")].status'
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Customers"]["jsonPath"] == ".status.masterData.customers"
    assert columns["Items"]["jsonPath"] == ".status.masterData.items"
    assert columns["Last-Sync"] == {**columns["Last-Sync"], "type": "date",
                                    "jsonPath": ".status.masterData.lastSuccessTime"}
    assert columns["Last-Push"] == {**columns["Last-Push"], "type": "date",
                                    "jsonPath": ".status.orders.lastSuccessTime"}
    assert columns["Errors"]["jsonPath"] == ".status.errorCount"
    assert "errorCount" in VismaIntegrationStatus.model_json_schema(by_alias=True)["properties"]
    assert columns["Age"]["jsonPath"] == ".metadata.creationTimestamp"
    status = crd_schema()["properties"]["status"]
    for name, column in columns.items():
        path = column["jsonPath"].split("[")[0].lstrip(".").split(".")
        if path[0] != "status":
            continue
        node = status
        for part in path[1:]:
            assert part in node.get("properties", {}), f"column {name}: no {column['jsonPath']}"
            node = node["properties"][part]


# --------------------------------------------------------------------------- in step


def test_spec_schema_in_step_with_the_model() -> None:
    """S-70: same fields, enums, patterns, defaults and required fields, at every level."""
    py = VismaIntegrationSpec.model_json_schema(by_alias=True, mode="validation")
    crd = crd_schema()["properties"]["spec"]
    assert_in_step(crd, py, py.get("$defs", {}), "spec")


def test_status_schema_in_step_with_the_model() -> None:
    """S-81: the status the operator writes is the status the CRD describes."""
    py = VismaIntegrationStatus.model_json_schema(by_alias=True, mode="validation")
    crd = crd_schema()["properties"]["status"]
    assert_in_step(crd, py, py.get("$defs", {}), "status")


def test_conditions_are_a_map_keyed_by_type() -> None:
    conditions = crd_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_spec_refuses_unknown_fields_on_both_sides() -> None:
    """Typos are errors: extra="forbid" in the model, pruned (strict: refused) by the CRD."""
    for path, node in walk(crd_schema()["properties"]["spec"], "spec"):
        assert not node.get("x-kubernetes-preserve-unknown-fields"), path
    py = VismaIntegrationSpec.model_json_schema(by_alias=True)
    for name, definition in {"spec": py, **py["$defs"]}.items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_every_field_is_described() -> None:
    """`kubectl explain vismaintegration.spec...` teaches the API: every field has a text."""
    schema = crd_schema()
    assert schema["description"].strip()
    for top in ("spec", "status"):
        for path, node in walk(schema["properties"][top], top):
            assert node.get("description", "").strip(), f"{path} has no description"


def test_every_duration_and_url_has_its_pattern() -> None:
    """Durations are Go-style (with a friendly CEL message); URLs are http(s)."""
    spec = crd_schema()["properties"]["spec"]
    durations = [path for path, node in walk(spec, "spec")
                 if node.get("pattern") == DURATION_PATTERN]
    assert durations == ["spec.schedule.masterData", "spec.schedule.orders",
                         "spec.schedule.imports", "spec.schedule.cleanup"]
    urls = [path for path, node in walk(spec, "spec") if node.get("pattern") == URL_PATTERN]
    assert urls == ["spec.visma.apiUrl", "spec.visma.salesOrderUrl", "spec.visma.tokenUrl",
                    "spec.simon.url"]


DURATION_RULE = f"self.matches('{DURATION_PATTERN}') && self.matches('[1-9]')"
WAREHOUSE_RULE = "self.documentType != 'SalesOrder' || has(self.defaultWarehouse)"

# Every CEL rule of the CRD, with a spec it refuses; the model must refuse that spec too.
KNOWN_RULES: dict[tuple[str, str], tuple[str, Any]] = {
    ("spec.orders", WAREHOUSE_RULE): ("spec.orders", {"documentType": "SalesOrder"}),
    **{
        (f"spec.schedule.{name}", DURATION_RULE): (f"spec.schedule.{name}", "0s")
        for name in ("masterData", "orders", "imports", "cleanup")
    },
}


def test_cel_rules_are_mirrored_by_the_model() -> None:
    """S-50 and the duration rule: each CEL rule has a twin in the model."""
    found = {}
    for path, node in walk(crd_schema()["properties"]["spec"], "spec"):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{path}: a CEL rule needs a message"
            found[(path, rule["rule"])] = rule
    assert sorted(found) == sorted(KNOWN_RULES)
    warehouse = found[("spec.orders", WAREHOUSE_RULE)]
    assert "defaultWarehouse" in warehouse["message"] and "SalesOrder" in warehouse["message"]
    assert warehouse["fieldPath"] == ".defaultWarehouse"
    for (_path, _rule), (field, bad) in KNOWN_RULES.items():
        body = minimal_body()
        *parents, last = field.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = bad
        with pytest.raises(ValueError) as caught:
            tenant_from_body(body)
        assert str(caught.value).startswith(field)
    duration = found[("spec.schedule.orders", DURATION_RULE)]
    assert "use a duration like 30s, 2m or 48h" in duration["message"]


def test_api_server_defaulting_equals_model_defaults() -> None:
    """S-70: a minimal spec defaulted by the CRD is what the model makes of it."""
    body = minimal_body()
    defaulted = crd_defaulted(crd_schema(), body)["spec"]
    assert defaulted == tenant_from_body(body).spec.to_wire()


# --------------------------------------------------------------------------- examples


def test_examples_are_valid_for_the_crd() -> None:
    """The example tenant and a minimal one pass the CRD schema with no unknown fields."""
    example = yaml.safe_load((ROOT / "examples" / "tenant.yaml").read_text())
    for body in (example, minimal_body()):
        assert schema_errors(body) == []
        assert unknown_fields(crd_schema(), body, "") == []
    assert load_tenant(ROOT / "examples" / "tenant.yaml").spec.to_wire() == crd_defaulted(
        crd_schema(), example
    )["spec"]


def test_status_written_by_the_model_is_valid_for_the_crd() -> None:
    """S-81: a full status from the model passes the CRD's status schema."""
    status = VismaIntegrationStatus.model_validate({
        "observedGeneration": 3, "companyId": "1234567",
        "masterData": {"lastSuccessTime": NOW, "customers": 1, "items": 2, "workAddresses": 3,
                       "highestModified": {"customers": NOW, "items": NOW},
                       "progress": {"customers": {"done": 1, "total": 2},
                                    "items": {"done": 0}}},
        "cleanup": {"lastSuccessTime": NOW, "nextRunTime": NOW,
                    "removed": {"customers": 0, "items": 0, "workAddresses": 0}},
        "orders": {"lastSuccessTime": NOW, "sent": 1, "failed": 0, "waiting": 0,
                   "passedOver": 4},
        "imports": {"lastSuccessTime": NOW, "imported": 0},
        "activation": {"activatedAt": NOW, "wiped": ["Customers", "Items"]},
        "recentErrors": [{"time": NOW, "table": "customer", "key": "10001",
                          "message": "m", "action": "a"}],
    })
    status.set_condition("Ready", True, "AllSynced", "", now=NOW, observed_generation=3)
    body = {**minimal_body(), "status": status.to_wire()}
    assert schema_errors(body) == []
    assert unknown_fields(crd_schema(), body, "") == []


# How the API server refuses each REFUSALS case of test_model when not by its OpenAPI schema.
NOT_BY_OPENAPI = {
    "sales-order-without-warehouse": "cel",
    "zero-duration": "cel",
    "duplicate-wipe": "x-kubernetes-list-type: set",
    "typo-in-orders": "strict",
    "typo-in-case": "strict",
    "secret-in-other-namespace": "strict",
    "typo-at-top-level": "strict",
    "missing-name": "metadata",
    "wrong-api-version": "apiVersion",
}


@pytest.mark.parametrize(("mutate", "expected"), REFUSALS)
def test_the_crd_refuses_what_the_model_refuses(
    request: pytest.FixtureRequest, mutate: Any, expected: str
) -> None:
    """Each spec the model refuses is refused by the API server too (same field)."""
    case = request.node.callspec.id
    body = minimal_body()
    mutate(body)
    how = NOT_BY_OPENAPI.get(case, "openapi")
    if how == "openapi":
        assert schema_errors(body), f"{case}: the CRD schema accepts what the model refuses"
    elif how == "strict":
        assert unknown_fields(crd_schema(), body, ""), f"{case}: not an unknown field"
    elif how == "cel":
        field = expected.split(":", 1)[0]
        assert any(path == field or field.startswith(path + ".")
                   for path, _ in KNOWN_RULES), case
    elif how == "x-kubernetes-list-type: set":
        node = crd_schema()["properties"]["spec"]["properties"]["activation"]
        assert node["properties"]["wipeOnReactivation"]["x-kubernetes-list-type"] == "set"

"""The CRD is generated from the models (DESIGN.md section 2): the committed files are what
`python -m reconcilers.resource.crd` writes, the schema is one the API server accepts, and
what the CRD refuses or defaults is what the models refuse or default.

tests/cluster/test_crd.py applies the same CRD to a real kube-apiserver.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pydantic import BaseModel, Field

from reconcilers.resource import crd as generator
from reconcilers.resource.crd import (
    CRD_FILES,
    PRINTER_COLUMNS,
    CrdError,
    apply_defaults,
    check_columns,
    generated,
    stale_files,
)
from reconcilers.resource.durations import DURATION_PATTERN, DURATION_RULES, Duration
from reconcilers.resource.spec import API_VERSION, VismaIntegrationSpec
from reconcilers.resource.status import VismaIntegrationStatus
from reconcilers.resource.tenant import load_tenant, tenant_from_body
from tests.tenant.test_model import NOW, REFUSALS, minimal_body

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def load_crd() -> dict[str, Any]:
    """The committed CRD as parsed YAML (cached: treat it as read-only)."""
    return yaml.safe_load((ROOT / CRD_FILES[0]).read_text())


def crd_schema() -> dict[str, Any]:
    (version,) = load_crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


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
    defaulted = apply_defaults(schema, body)
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [error.message for error in validator.iter_errors(defaulted)]


# --------------------------------------------------------------------------- generated


@pytest.mark.parametrize("path", CRD_FILES, ids=str)
def test_committed_crd_is_what_the_models_generate(path: Path) -> None:
    """Both copies (crds/ and the chart's template) are the generator's output, byte for byte:
    a change to the models without `make crd` fails here."""
    assert (ROOT / path).read_text() == generated()[path], f"{path} is out of date: run `make crd`"


def test_a_stale_or_missing_copy_is_found(tmp_path: Path) -> None:
    for relative in CRD_FILES:
        (tmp_path / relative).parent.mkdir(parents=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    assert stale_files(tmp_path) == []
    chart = tmp_path / CRD_FILES[1]
    chart.write_text(chart.read_text().replace("minLength: 1", "minLength: 2", 1))
    (tmp_path / CRD_FILES[0]).unlink()
    assert stale_files(tmp_path) == list(CRD_FILES)


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
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["required"] == ["spec"]
    assert list(schema["properties"]) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True, (
        "kopf keeps its own state in status")
    assert "--validate=strict" in schema["description"]


def test_printer_columns() -> None:
    """`kubectl get vismaintegrations` shows the essentials."""
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
    assert columns["Age"]["jsonPath"] == ".metadata.creationTimestamp"
    assert all(column["description"] for column in columns.values())


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        ({"name": "Gone", "type": "integer", "jsonPath": ".status.masterData.locations"},
         "no field .status.masterData.locations"),
        ({"name": "Wrong", "type": "date", "jsonPath": ".status.masterData.customers"},
         "is not a date"),
    ],
)
def test_a_column_must_read_a_status_field_of_its_type(
    column: dict[str, str], problem: str
) -> None:
    schema = generator.openapi_schema()
    check_columns(schema, PRINTER_COLUMNS)
    with pytest.raises(CrdError, match=problem):
        check_columns(schema, [column])


# --------------------------------------------------------------------------- structural


def test_the_schema_is_structural() -> None:
    """What the API server asks of a CRD schema: a type on every node, no $ref, no unions,
    no `additionalProperties` beside `properties`; and nothing JSON-Schema-only (titles,
    uniqueItems, nulls) left over from pydantic."""
    for path, node in walk(crd_schema(), ""):
        assert "type" in node, f"{path or 'root'}: no type"
        for keyword in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const",
                        "uniqueItems", "nullable", "examples"):
            assert keyword not in node, f"{path}: {keyword}"
        assert node["type"] in ("object", "array", "string", "integer", "number", "boolean")
        if node["type"] == "object":
            assert not ("properties" in node and "additionalProperties" in node), path
            assert isinstance(node.get("additionalProperties", {}), dict), path


def test_every_field_is_described_for_kubectl_explain() -> None:
    for top in ("spec", "status"):
        for path, node in walk(crd_schema()["properties"][top], top):
            assert node.get("description", "").strip(), f"{path} has no description"


class _Undescribed(BaseModel):
    """A resource of one field."""

    name: str


class _WithSpecId(BaseModel):
    """A resource of one field."""

    name: str = Field(description="The name (S-12).")


class _Union(BaseModel):
    """A resource of one field."""

    value: int | str = Field(description="A number or a text.")


class _Unique(BaseModel):
    """A resource of one field."""

    values: list[str] = Field(description="Values.", json_schema_extra={"uniqueItems": True})


class _Optional(BaseModel):
    class Kind(StrEnum):
        """Developer notes (S-99) that users never see."""

        ONE = "One"

    word: str | None = Field(None, description="An optional word.")
    kind: Kind = Field(Kind.ONE, description="The kind.")
    every: Duration = Field("2m", description="How often.")
    cleared: str | None = Field(None, description="Null clears it.",
                                json_schema_extra={"nullable": True})


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (_Undescribed, "name: no description"),
        (_WithSpecId, "name: the description mentions S-12"),
        (_Union, "value: a union"),
        (_Unique, "values: uniqueItems has no place"),
    ],
)
def test_what_a_crd_cannot_say_is_an_error(model: type[BaseModel], problem: str) -> None:
    """The generator refuses a field without a description, developer references in user
    text, and JSON Schema the API server does not take."""
    with pytest.raises(CrdError, match=problem):
        generator._structural(model.model_json_schema(by_alias=True), {}, "")


def test_optional_fields_enums_and_durations_translate() -> None:
    """`X | None = None` is an optional field without a default (`nullable` only when the
    model asks for it); a docstring is not a description; a duration carries its pattern and
    CEL rule."""
    raw = _Optional.model_json_schema(by_alias=True)
    defs = raw.pop("$defs")
    raw["description"] = "Test."
    schema = generator._structural(raw, defs, "")
    assert schema["properties"]["word"] == {"type": "string", "description": "An optional word."}
    assert "required" not in schema
    assert schema["properties"]["cleared"] == {
        "type": "string", "description": "Null clears it.", "nullable": True}
    assert schema["properties"]["kind"] == {
        "type": "string", "description": "The kind.", "enum": ["One"], "default": "One"}
    every = schema["properties"]["every"]
    assert every["pattern"] == DURATION_PATTERN and every["default"] == "2m"
    assert every["x-kubernetes-validations"] == DURATION_RULES


def test_a_reference_wrapped_in_all_of_translates() -> None:
    """Older pydantic versions put a field's own keywords beside `allOf: [{$ref}]`."""
    node = {"allOf": [{"$ref": "#/$defs/Word"}], "description": "The word.", "default": "a"}
    defs = {"Word": {"type": "string", "enum": ["a", "b"], "title": "Word",
                     "description": "Developer notes (S-1)."}}
    assert generator._structural(node, defs, "word") == {
        "type": "string", "description": "The word.", "enum": ["a", "b"], "default": "a"}


def test_object_defaults_are_left_to_the_fields() -> None:
    """A section whose default is its fields' defaults is `default: {}`: the API server then
    fills in each field, which the test below compares with the model."""
    spec = crd_schema()["properties"]["spec"]["properties"]
    for name in ("schedule", "activation", "cleanup", "imports"):
        assert spec[name]["default"] == {}, name
    assert spec["imports"]["properties"]["quotes"]["default"] == {}


def test_api_server_defaulting_equals_model_defaults() -> None:
    """A minimal spec defaulted by the CRD is what the model makes of it."""
    body = minimal_body()
    defaulted = apply_defaults(crd_schema(), body)["spec"]
    assert defaulted == tenant_from_body(body).spec.to_wire()


def test_spec_refuses_unknown_fields_on_both_sides() -> None:
    """Typos are errors: extra="forbid" in the model, pruned (strict: refused) by the CRD."""
    for path, node in walk(crd_schema()["properties"]["spec"], "spec"):
        assert not node.get("x-kubernetes-preserve-unknown-fields"), path
    py = VismaIntegrationSpec.model_json_schema(by_alias=True)
    for name, definition in {"spec": py, **py["$defs"]}.items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


# --------------------------------------------------------------------------- CEL rules


DURATION_RULE = f"self.matches('{DURATION_PATTERN}')"
WAREHOUSE_RULE = "self.documentType != 'SalesOrder' || has(self.defaultWarehouse)"

# Every CEL rule of the CRD, with a spec it refuses; the model must refuse that spec too.
KNOWN_RULES: dict[tuple[str, str], tuple[str, Any]] = {
    ("spec.orders", WAREHOUSE_RULE): ("spec.orders", {"documentType": "SalesOrder"}),
    **{
        (f"spec.schedule.{name}", rule["rule"]): (f"spec.schedule.{name}", bad)
        for name in ("masterData", "orders", "imports", "cleanup")
        for rule, bad in zip(DURATION_RULES, ["2d", "9s", "169h"], strict=True)
    },
}


def test_cel_rules_are_mirrored_by_the_model() -> None:
    """Each CEL rule has a message and a twin in the model."""
    found = {}
    for path, node in walk(crd_schema()["properties"]["spec"], "spec"):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{path}: a CEL rule needs a message"
            found[(path, rule["rule"])] = rule
    assert sorted(found) == sorted(KNOWN_RULES)
    warehouse = found[("spec.orders", WAREHOUSE_RULE)]
    assert warehouse == {"rule": WAREHOUSE_RULE, "fieldPath": ".defaultWarehouse",
                         "reason": "FieldValueRequired",
                         "message": "defaultWarehouse is required when documentType is SalesOrder"}
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


# --------------------------------------------------------------------------- examples


def test_examples_are_valid_for_the_crd() -> None:
    """The example tenant and a minimal one pass the CRD schema with no unknown fields."""
    example = yaml.safe_load((ROOT / "examples" / "tenant.yaml").read_text())
    for body in (example, minimal_body()):
        assert schema_errors(body) == []
        assert unknown_fields(crd_schema(), body, "") == []
    assert load_tenant(ROOT / "examples" / "tenant.yaml").spec.to_wire() == apply_defaults(
        crd_schema(), example
    )["spec"]


def test_status_written_by_the_model_is_valid_for_the_crd() -> None:
    """A full status from the model passes the CRD's status schema."""
    status = VismaIntegrationStatus.model_validate({
        "observedGeneration": 3, "companyId": "1234567",
        "masterData": {"lastSuccessTime": NOW, "customers": 1, "items": 2, "workAddresses": 3,
                       "highestModified": {"customers": NOW, "items": NOW},
                       "progress": {"customers": {"done": 1, "total": 2},
                                    "items": {"done": 0}}},
        "cleanup": {"lastSuccessTime": NOW, "nextRunTime": NOW + timedelta(hours=48),
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

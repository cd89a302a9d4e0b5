"""The emulator's hand-copied write schemas (emulators/visma/schemas.py) name the same fields,
with the same kinds, as Visma's own OpenAPI descriptions."""

from __future__ import annotations

from typing import Any

from emulators.visma.schemas import ERP_SCHEMAS, V3_SCHEMAS
from tests.visma.test_openapi_conformance import ERP_FILE, V3_FILE, _spec


def _ref(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or next(
        (x.get("$ref") for x in prop.get("allOf", []) if "$ref" in x), None)
    return ref.rsplit("/", 1)[1] if ref else None


def _v3_kind(prop: dict[str, Any]) -> Any:
    ref = _ref(prop)
    if ref:
        return ("object", ref)
    if prop.get("type") == "array":
        item = _ref(prop["items"])
        return ("array", item) if item else "array"
    if prop.get("type") == "object":
        return "map"
    if prop.get("format") == "date-time":
        return "date-time"
    return prop["type"]


def test_v3_write_schemas_match_the_openapi_file():
    schemas = _spec(V3_FILE)["components"]["schemas"]
    for name, fields in V3_SCHEMAS.items():
        published = schemas[name]
        assert published["additionalProperties"] is False, name
        expected = {k: _v3_kind(v) for k, v in published["properties"].items()}
        assert fields == expected, name


def _erp_kind(schemas: dict[str, Any], prop: dict[str, Any]) -> Any:
    ref = _ref(prop)
    if prop.get("type") == "array":
        return ("array", _ref(prop["items"]))
    if ref is None:
        return "date-time" if prop.get("format") == "date-time" else prop["type"]
    target = schemas[ref]
    value = target.get("properties", {}).get("value")
    if value is None:
        return "object"
    inner = _ref(value)
    if inner:
        return ("value", inner)
    if value.get("format") == "date-time":
        return ("value", "date-time")
    if value.get("format") == "uuid":
        return ("value", "string")
    return ("value", value["type"])


def test_erp_write_schemas_match_the_openapi_file():
    schemas = _spec(ERP_FILE)["components"]["schemas"]
    for name, fields in ERP_SCHEMAS.items():
        expected = {k: _erp_kind(schemas, v) for k, v in schemas[name]["properties"].items()}
        assert fields == expected, name

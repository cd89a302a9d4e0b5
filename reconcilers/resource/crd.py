"""The VismaIntegration CRD, generated from the models (DESIGN.md section 2).

The pydantic models in `spec.py` and `status.py` are the one source of the resource's API.
`python -m reconcilers.resource.crd` writes the CRD from them into both places it ships from:
`crds/vismaintegrations.yaml` and the Helm chart's copy. `tests/tenant/test_crd.py` fails when
a committed file is not what the models generate.

Pydantic emits JSON Schema (2020-12); the API server takes a *structural* OpenAPI v3 schema.
The translation here inlines `$ref`s, turns `X | None` into an optional field (never
`nullable`), leaves out titles, docstrings and `additionalProperties: false` (the API server
prunes unknown fields; strict field validation refuses them), and writes `default: {}` for an
object whose default is all its fields' defaults, as the API server then fills them in. What
has no structural equivalent (a real union, `uniqueItems`) is an error, and so is a field
without a description: it is what `kubectl explain` shows users.
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from reconcilers.resource.spec import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    VismaIntegrationSpec,
)
from reconcilers.resource.status import VismaIntegrationStatus

ROOT = Path(__file__).resolve().parents[2]
PLAIN_CRD = Path("crds") / "vismaintegrations.yaml"
"""The CRD as it is, for `kubectl apply -f` (relative to the repository root)."""
CHART_CRD = Path("charts") / "simon-visma" / "templates" / "crd-vismaintegrations.yaml"
"""The chart's copy: a template, so that `helm upgrade` updates the CRD (a chart's crds/
directory is installed once and never upgraded). The values crds.enabled and crds.keep wrap it,
as cert-manager's chart does."""
CRD_FILES = (PLAIN_CRD, CHART_CRD)
"""Where the CRD is committed, relative to the repository root."""

SINGULAR = "vismaintegration"
SHORT_NAMES = ["vi"]
CATEGORIES = ["simon-visma"]

HEADER = """\
# VismaIntegration: one tenant of the simon-visma operator (Simple-Simon <-> Visma.net ERP).
# Generated from reconcilers/resource/spec.py and status.py by `make crd`
# (python -m reconcilers.resource.crd), which writes this file and the Helm chart's copy.
# Do not edit by hand: change the models and generate again.
"""


class CrdError(ValueError):
    """The models say something the CRD cannot (or must not) say; names the field."""


class VismaIntegration(BaseModel):
    """VismaIntegration connects one tenant's Simple-Simon ("Simon", digital work orders) with
    its Visma.net ERP administration. Visma.net leads for customers and items, which the
    operator mirrors into Simon; Simon leads for work orders, which become Visma.net sales
    orders or invoices once completed and archived. Create one per tenant, in the tenant's
    namespace, next to the two Secrets that spec.visma.credentialsSecretRef and
    spec.simon.credentialsSecretRef name. The API server prunes unknown fields silently; apply
    with `kubectl apply --validate=strict` (server-side field validation) so that a misspelt
    field is an error instead of a setting that quietly does nothing."""

    # The resource as the API server sees it; only its schema is used (`metadata` is the API
    # server's own ObjectMeta and is added by `openapi_schema`). The docstring above is the
    # description `kubectl explain vismaintegration` shows.

    api_version: str | None = Field(None, alias="apiVersion", description=(
        f"APIVersion defines the versioned schema of this representation of an object: "
        f"{API_VERSION}."))
    kind: str | None = Field(None, description=(
        f"Kind is the REST resource this object represents ({KIND})."))
    spec: VismaIntegrationSpec = Field(description=(
        "The tenant's settings. A change is checked against Visma.net before work orders are "
        "pushed again and applies to documents made from then on."))
    status: VismaIntegrationStatus | None = Field(None, description=(
        "Written by the operator: whether the tenant is active and its settings valid, the "
        "last successful pass of each loop, counts, highest mutation dates and the latest "
        "errors. Fields not listed here are the operator framework's own."))


PRINTER_COLUMNS: list[dict[str, str]] = [
    {"name": "Active", "type": "string",
     "description": "Status of the Active condition (False while spec.enabled is false).",
     "jsonPath": '.status.conditions[?(@.type=="Active")].status'},
    {"name": "Ready", "type": "string",
     "description": "Status of the Ready condition (settings valid and every loop healthy).",
     "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Customers", "type": "integer",
     "description": "Customers mirrored from Visma.net into Simon.",
     "jsonPath": ".status.masterData.customers"},
    {"name": "Items", "type": "integer",
     "description": "Non-stock items mirrored from Visma.net into Simon.",
     "jsonPath": ".status.masterData.items"},
    {"name": "Last-Sync", "type": "date",
     "description": "When the last master-data pass finished successfully.",
     "jsonPath": ".status.masterData.lastSuccessTime"},
    {"name": "Last-Push", "type": "date",
     "description": "When the last work-order push pass finished successfully.",
     "jsonPath": ".status.orders.lastSuccessTime"},
    {"name": "Errors", "type": "integer",
     "description": "Number of entries in status.recentErrors.",
     "jsonPath": ".status.errorCount"},
    {"name": "Age", "type": "date",
     "description": "Time since the resource was created.",
     "jsonPath": ".metadata.creationTimestamp"},
]
"""What `kubectl get vismaintegrations` shows, in this order."""


# --------------------------------------------------------------------------- the schema

# OpenAPI keywords the translated schema may carry, in the order they are written. `nullable`
# comes only from a model that asks for it (json_schema_extra): `X | None` is an optional field.
_KEYWORDS = (
    "type", "format", "description", "nullable", "enum", "default", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems",
    "maxItems",
)
_STRUCTURE = ("required", "properties", "additionalProperties", "items")
_RULE_KEYS = ("rule", "message", "messageExpression", "fieldPath", "reason")
_DROPPED = ("title",)
# Text that means something to this project's developers, never to users.
_INTERNAL_TEXT = re.compile(r"\bS-[0-9]+\b|DESIGN\.md|SPEC\.md")
_MISSING = object()


def openapi_schema() -> dict[str, Any]:
    """The CRD's `openAPIV3Schema`: the models' JSON schema as a structural schema."""
    raw = VismaIntegration.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema = _structural(raw, defs, "")
    properties = schema["properties"]
    schema["properties"] = {
        "apiVersion": properties["apiVersion"],
        "kind": properties["kind"],
        "metadata": {"type": "object"},
        **{name: node for name, node in properties.items() if name not in ("apiVersion", "kind")},
    }
    return schema


def _structural(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, defs, path)
    where = path or "the resource"
    unknown = sorted(key for key in node if key not in (*_KEYWORDS, *_STRUCTURE, *_DROPPED)
                     and not key.startswith("x-kubernetes-"))
    if unknown:
        raise CrdError(f"{where}: {', '.join(unknown)} has no place in a structural schema")
    if "description" not in node:
        raise CrdError(f"{where}: no description (kubectl explain shows it to users)")
    out: dict[str, Any] = {key: node[key] for key in _KEYWORDS if key in node}
    out["description"] = _plain_text(node["description"], where)
    out.update({key: value for key, value in node.items() if key.startswith("x-kubernetes-")})
    if "x-kubernetes-validations" in out:
        out["x-kubernetes-validations"] = [
            {key: rule[key] for key in _RULE_KEYS if key in rule} | rule
            for rule in out["x-kubernetes-validations"]
        ]
    if "required" in node:
        out["required"] = list(node["required"])
    if "properties" in node:
        out["properties"] = {
            name: _structural(child, defs, f"{path}.{name}".lstrip("."))
            for name, child in node["properties"].items()
        }
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(node["additionalProperties"], defs,
                                                  f"{path}.*")
    if "items" in node:
        out["items"] = _structural(node["items"], defs, f"{path}[]")
    if out.get("type") == "object" and out.get("properties") and "default" in out:
        without = {key: value for key, value in out.items() if key != "default"}
        if apply_defaults(without, {}) == out["default"]:
            out["default"] = {}  # the API server fills in the fields' own defaults
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """`node` with `$ref`, single `allOf` and `X | None` folded in (the node's own keys win).

    A referenced model's or enum's description is its docstring, written for developers:
    it is left out, and the field's own description is used.
    """
    node = dict(node)
    while True:
        if "$ref" in node:
            target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**{k: v for k, v in target.items() if k != "description"}, **node}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node.pop("allOf")[0], **node}
        elif "anyOf" in node:
            options = node.pop("anyOf")
            others = [option for option in options if option != {"type": "null"}]
            if len(others) != 1:
                raise CrdError(f"{path}: a union of {others} has no structural schema")
            if len(others) < len(options) and node.get("default", _MISSING) is None:
                del node["default"]  # `X | None = None`: optional, and left out when unset
            node = {**others[0], **node}
        else:
            return node


class _Prose(str):
    """Text for people (a description): folded over lines in the YAML when long."""

    __slots__ = ()


def _plain_text(text: str, where: str) -> _Prose:
    text = " ".join(text.split())
    found = _INTERNAL_TEXT.search(text)
    if found:
        raise CrdError(f"{where or 'the resource'}: the description mentions {found.group()}; "
                       "descriptions are for users")
    return _Prose(text)


def apply_defaults(node: dict[str, Any], value: Any) -> Any:
    """`value` defaulted under `node` the way the API server does it (a copy)."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_defaults(child, value[name])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            value = {key: apply_defaults(extra, item) for key, item in value.items()}
    elif isinstance(value, list) and "items" in node:
        value = [apply_defaults(node["items"], item) for item in value]
    return value


def check_columns(schema: dict[str, Any], columns: list[dict[str, str]]) -> None:
    """Each printer column on `.status` reads a field the schema has, of the column's type."""
    for column in columns:
        parts = column["jsonPath"].split("[")[0].lstrip(".").split(".")
        if parts[0] != "status":
            continue
        node = schema
        for part in parts:
            if part not in node.get("properties", {}):
                raise CrdError(f"printer column {column['name']}: no field {column['jsonPath']}")
            node = node["properties"][part]
        if "[" in column["jsonPath"]:
            continue  # a filter over a list: the JSONPath picks a field of one item
        expected = {"integer": {"type": "integer"},
                    "date": {"type": "string", "format": "date-time"}}.get(column["type"])
        if expected and {key: node.get(key) for key in expected} != expected:
            raise CrdError(f"printer column {column['name']}: {column['jsonPath']} is not "
                           f"a {column['type']}")


# --------------------------------------------------------------------------- the CRD


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition of VismaIntegration, as a dict."""
    schema = openapi_schema()
    check_columns(schema, PRINTER_COLUMNS)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "simon-visma",
                       "app.kubernetes.io/part-of": "simon-visma"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists; long text folded, everything else (CEL rules,
    patterns, short lists of words) on one line."""

    def process_scalar(self) -> None:
        if self.analysis is None:
            assert isinstance(self.event, yaml.ScalarEvent)
            self.analysis = self.analyze_scalar(self.event.value)
        if self.style is None:
            self.style = self.choose_scalar_style()
        self.best_width = _FOLDED_WIDTH if self.style == ">" else 1_000_000
        super().process_scalar()

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_prose(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = ">" if len(text) > 60 else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style=style)


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.SequenceNode:
    flow = bool(items) and all(isinstance(item, str) and len(item) < 40 for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_FOLDED_WIDTH = 92
_Dumper.add_representer(_Prose, _represent_prose)
_Dumper.add_representer(list, _represent_list)


def render() -> str:
    """The CRD file's text, exactly as it is committed."""
    body = yaml.dump(crd(), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return HEADER + body


def chart_template(text: str) -> str:
    """The chart's copy of the CRD file `text`: rendered only with crds.enabled, and with
    crds.keep annotated `helm.sh/resource-policy: keep` so that `helm uninstall` leaves the CRD
    (and with it every VismaIntegration) in place. Anything in `text` that Helm would read as a
    template action is escaped, so that the rendered CRD is `text` itself."""
    metadata, found, spec = text.partition("\nspec:\n")
    if not found or "\n  annotations:" in metadata:
        raise CrdError("the CRD needs a top-level spec after metadata without annotations")

    def escaped(part: str) -> str:
        return part.replace("{{", '{{ "{{" }}')

    return ("{{- if .Values.crds.enabled }}\n" + escaped(metadata) + "\n"
            + "  {{- if .Values.crds.keep }}\n"
            + "  annotations:\n"
            + "    helm.sh/resource-policy: keep\n"
            + "  {{- end }}\n"
            + "spec:\n" + escaped(spec) + "{{- end }}\n")


def generated() -> dict[Path, str]:
    """Each committed CRD file (relative to the repository root) and the text it must have."""
    text = render()
    return {PLAIN_CRD: text, CHART_CRD: chart_template(text)}


def write(root: Path = ROOT) -> list[Path]:
    """Write the CRD to every place it ships from; returns the files written."""
    written = []
    for relative, text in generated().items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def stale_files(root: Path = ROOT) -> list[Path]:
    """The committed CRD files under `root` that are not what the models generate."""
    return [relative for relative, text in generated().items()
            if not (root / relative).is_file() or (root / relative).read_text() != text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconcilers.resource.crd",
        description="Generate the VismaIntegration CRD from the models.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed CRD file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path}: not what the models generate; run `make crd`")
        return 1 if stale else 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A `VismaIntegration` as the operator and the CLI read it: the resource (metadata, spec), decoded
from a kopf body or from the YAML file that `kubectl apply` takes (DESIGN.md section 2).

The models in `spec.py` and `status.py` are the public API; the CRD
(`crds/vismaintegrations.yaml`) is generated from them by `reconcilers.resource.crd` (camelCase
on the wire, snake_case in Python). The models refuse what the API server refuses (unknown
fields, bad enums, malformed durations, a SalesOrder setup without a default warehouse), so
standalone mode (`simon-visma run --tenant tenant.yaml`) and the operator see the same settings
(S-70).

Entry points:

- `load_tenant(path)` reads the YAML that `kubectl apply` takes;
- `tenant_from_body(body)` / `Tenant.from_body(body)` decode a kopf body (metadata + spec);
- `VismaIntegrationStatus` is what the operator writes back to `.status`.

Every failure is a `TenantSpecError` (a `TenantFileError` when reading a file) whose message
is one line naming the offending field path, e.g.
``spec.orders.defaultWarehouse: required when documentType is SalesOrder``.
"""


from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
)

from reconcilers.resource.spec import (
    API_VERSION,
    KIND,
    SECRET_NAME_PATTERN,
    URL_PATTERN,
    TenantFileError,
    TenantSpecError,
    VismaIntegrationSpec,
    _ErrorFactory,
)
from reconcilers.resource.status import CONDITION_REASON_PATTERN
from reconcilers.resource.yamlfile import YamlFileError, load_documents, read_text_file

_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_RE = re.compile(SECRET_NAME_PATTERN)
# Friendly messages for pattern mismatches, keyed by the pattern pydantic reports.
_PATTERN_MESSAGES = {
    URL_PATTERN: "must be an http(s) URL like https://simon.example/api",
    SECRET_NAME_PATTERN: "must be a Secret name (lowercase letters, digits, '-' and '.')",
    CONDITION_REASON_PATTERN: "must be a CamelCase reason like SettingsChecked",
}


# --------------------------------------------------------------------------- tenant


class Tenant(BaseModel):
    """One VismaIntegration resource: who it is (metadata) and its settings (spec)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    spec: VismaIntegrationSpec

    @property
    def key(self) -> str:
        """"namespace/name": the tenant's identity in the store, logs and the CLI."""
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Tenant:
        """Build a Tenant from a kopf body (or any object dict); raises TenantSpecError."""
        return tenant_from_body(body)


_TOP_LEVEL_KEYS = {"apiVersion", "kind", "metadata", "spec", "status"}


def tenant_from_body(body: Mapping[str, Any]) -> Tenant:
    """Decode a VismaIntegration object (kopf body or YAML document) into a Tenant.

    Validates exactly as `load_tenant` does; raises TenantSpecError (one line, field path).
    """
    return _tenant_from_document(_plain(body), TenantSpecError)


def load_tenant(path: str | os.PathLike[str]) -> Tenant:
    """Read a tenant file: the YAML that `kubectl apply -f` takes.

    The file holds one `kind: VismaIntegration` document (apiVersion simon-visma.io/v1alpha1);
    other documents (Secrets, a `kind: List` around them) are allowed and ignored, but there
    must be exactly one VismaIntegration. A missing `metadata.namespace` means `default`, as
    with kubectl. Raises TenantFileError with one line naming the file or the field.
    """
    file = Path(path)

    def fail(message: str, field: str | None = None) -> TenantFileError:
        return TenantFileError(message, field=field, path=file)

    try:
        text = read_text_file(file)
    except OSError as exc:
        raise fail(f"{file}: cannot read the tenant file ({exc.strerror or exc})") from None
    except YamlFileError as exc:
        raise fail(f"{file}: {exc}") from None
    try:
        documents = load_documents(text)
    except YamlFileError as exc:
        raise fail(f"{file}: {exc} ({_yaml_problem(exc, with_problem=True)})") from None

    found: list[tuple[int, dict[str, Any]]] = []
    for number, document in _objects(documents, fail, file):
        if document.get("kind") == KIND:
            found.append((number, document))
    if not found:
        raise fail(f"{file}: no {KIND} resource in it (expected one with apiVersion "
                   f"{API_VERSION})")
    if len(found) > 1:
        names = ", ".join(_name_of(doc) for _, doc in found)
        raise fail(f"{file}: holds {len(found)} {KIND} resources ({names}); "
                   "a tenant file holds exactly one")

    return _tenant_from_document(found[0][1], fail)


def _name_of(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    return str(metadata.get("name", "?")) if isinstance(metadata, dict) else "?"


def _objects(
    documents: Iterable[Any], fail: _ErrorFactory, file: Path
) -> Iterable[tuple[int, dict[str, Any]]]:
    """Yield (document number, object) for each Kubernetes object, unpacking `kind: List`."""
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise fail(f"{file}: document {number} is not a Kubernetes object "
                       "(a mapping with apiVersion and kind)")
        if "kind" not in document:
            raise fail(f"{file}: document {number} has no kind")
        if document["kind"] == "List":
            items = document.get("items") or []
            if not isinstance(items, list):
                raise fail(f"{file}: document {number}: items must be a list")
            for item in items:
                if not isinstance(item, dict) or "kind" not in item:
                    raise fail(f"{file}: document {number}: every List item must be a "
                               "Kubernetes object with a kind")
                yield number, item
        else:
            yield number, document


def _yaml_problem(exc: YamlFileError, *, with_problem: bool) -> str:
    problem = exc.problem if with_problem else None
    return ": ".join(part for part in (exc.position, problem) if part) or "cannot parse"


def _tenant_from_document(document: Any, error: _ErrorFactory) -> Tenant:
    if not isinstance(document, dict):
        raise error("a VismaIntegration must be a mapping with apiVersion, kind, metadata, spec")
    kind = document.get("kind", KIND)
    if kind != KIND:
        raise error(f"kind: must be {KIND}, not {kind!r}", field="kind")
    api_version = document.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise error(f"apiVersion: must be {API_VERSION}, not {api_version!r}", field="apiVersion")
    unknown = sorted(str(key) for key in set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        hint = _did_you_mean(unknown[0], _TOP_LEVEL_KEYS)
        raise error(f"{unknown[0]}: unknown field{hint}", field=unknown[0])

    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise error("metadata: required (with at least a name)", field="metadata")
    name = metadata.get("name")
    if not name:
        raise error("metadata.name: required", field="metadata.name")
    if not isinstance(name, str) or len(name) > 253 or not _NAME_RE.fullmatch(name):
        raise error("metadata.name: must be a lowercase RFC 1123 name like acme",
                    field="metadata.name")
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or len(namespace) > 63 or not _NAMESPACE_RE.fullmatch(
        namespace
    ):
        raise error("metadata.namespace: must be a lowercase RFC 1123 label like tenant-acme",
                    field="metadata.namespace")
    uid = metadata.get("uid")
    generation = metadata.get("generation")

    spec = document.get("spec")
    if spec is None:
        raise error("spec: required", field="spec")
    if not isinstance(spec, dict):
        raise error("spec: must be a mapping", field="spec")
    try:
        parsed = VismaIntegrationSpec.model_validate(_prune_nulls(spec))
    except ValidationError as exc:
        message, field = describe_validation_error(exc, VismaIntegrationSpec, prefix="spec")
        raise error(message, field=field) from None
    return Tenant(
        name=name,
        namespace=namespace,
        uid=str(uid) if uid is not None else None,
        generation=generation if isinstance(generation, int) else None,
        spec=parsed,
    )


def _plain(value: Any) -> Any:
    """Deep-copy Mappings and sequences (e.g. kopf's Body views) into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _prune_nulls(value: Any) -> Any:
    """Drop null-valued keys, as the API server prunes them before defaulting."""
    if isinstance(value, dict):
        return {key: _prune_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_prune_nulls(item) for item in value]
    return value


# --------------------------------------------------------------------------- error text


def describe_validation_error(
    exc: ValidationError, model: type[BaseModel], *, prefix: str = ""
) -> tuple[str, str]:
    """One line for a pydantic ValidationError, and the path of its first field.

    Paths use the wire (camelCase) names: ``spec.orders.warehouseByUser["jan@acme.example"]``.
    Up to three problems are listed; more are counted.
    """
    parts: list[str] = []
    first_field = ""
    errors = exc.errors(include_url=False)
    for number, err in enumerate(errors):
        field, known = _field_path(model, tuple(err["loc"]), prefix)
        if number == 0:
            first_field = field
        if number < 3:
            parts.append(f"{field}: {_error_text(err, known)}" if field else _error_text(err,
                                                                                       known))
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts), first_field


def _field_path(
    model: type[BaseModel], loc: tuple[str | int, ...], prefix: str
) -> tuple[str, set[str]]:
    """Render `loc` with wire names; also return the field names known where it ends."""
    path = prefix
    current: Any = model
    known: set[str] = set()
    for element in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            known = _wire_names(current)
            field = _find_field(current, str(element))
            wire = (field.alias or str(element)) if field is not None else str(element)
            path = f"{path}.{wire}" if path else wire
            current = field.annotation if field is not None else None
        elif typing.get_origin(current) is dict:
            path = f'{path}["{element}"]'
            current = typing.get_args(current)[1]
            known = set()
        elif typing.get_origin(current) is list:
            path = f"{path}[{element}]"
            current = typing.get_args(current)[0]
            known = set()
        else:
            path = f"{path}.{element}" if path else str(element)
            current = None
            known = set()
    return path, known


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `| None` to get at the type a loc element walks into."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (types.UnionType, typing.Union):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation


def _find_field(model: type[BaseModel], name: str) -> Any:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return field
    return None


def _wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    if not matches:
        lowered = {candidate.lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f"; did you mean {matches[0]}?" if matches else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_text(err: Mapping[str, Any], known: set[str]) -> str:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    loc = err["loc"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        if loc and loc[-1] == "namespace" and len(loc) > 1 and loc[-2] == "credentialsSecretRef":
            return "unknown field: Secrets are read only from the resource's own namespace"
        return "unknown field" + _did_you_mean(str(loc[-1]), known)
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be {expected}, not {_short(value)}"
    if kind in ("string_type", "str_type"):
        if value is None:
            return "required (it is empty)"
        hint = "; put it in quotes" if isinstance(value, bool | int | float) else ""
        return f"must be a string, not {_short(value)}{hint}"
    if kind == "string_too_short":
        return "must not be empty; leave the field out instead"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return _PATTERN_MESSAGES.get(pattern, f"must match {pattern}") + f", not {_short(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {_short(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value), not {_short(value)}"
    if kind == "list_type":
        return f"must be a list, not {_short(value)}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind in ("duration", "warehouse_required", "duplicate"):
        return str(err["msg"])
    return str(err["msg"])


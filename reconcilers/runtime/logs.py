"""The operator's log lines: each one about a tenant carries it as fields, probes are quiet.

A tenant's service says once which tenant its task serves (`about_tenant`), and each of its
loops which loop it runs (`in_loop`); every line logged from then on in that task, and in
the tasks it starts (and `asyncio.to_thread` calls), carries `namespace`, `name` and,
inside a loop, `loop`, without the code that logs passing them. With kopf's JSON format
(`--log-format=json`) they are keys of the JSON object, as they are on kopf's own lines about
a VismaIntegration; in the plain formats a line that does not name the tenant already starts
with `[namespace/name]`, as kopf's own lines about a resource do.

The liveness probe is not logged: neither the HTTP server's line per request to
`LIVENESS_PATH` nor kopf's line per probe handler that succeeded (a failing probe is still
logged). Metrics scrapes are not logged either (their server is silent).
"""

from __future__ import annotations

import copy
import logging
from contextvars import ContextVar
from typing import Any

LIVENESS_PATH = "/healthz"
"""The liveness probe's path, as the chart and the README run the operator."""

TENANT_KIND = "VismaIntegration"
"""The kind of kopf's lines (their object reference) that are about a tenant."""

FIELDS = "tenant_fields"
"""The LogRecord attribute that carries a line's tenant fields."""

_TENANT: ContextVar[str | None] = ContextVar("simon_visma_log_tenant", default=None)
_LOOP: ContextVar[str | None] = ContextVar("simon_visma_log_loop", default=None)


def about_tenant(key: str) -> None:
    """Lines logged from now on in this task (and the tasks it starts) are about the tenant
    `key` ("namespace/name")."""
    _TENANT.set(key)


def in_loop(loop: str) -> None:
    """Lines logged from now on in this task (and the tasks it starts) are about a loop."""
    _LOOP.set(loop)


def fields() -> dict[str, str]:
    """The tenant fields of a line logged here and now; empty outside a tenant's task."""
    key = _TENANT.get()
    if key is None:
        return {}
    namespace, _, name = key.partition("/")
    found = {"namespace": namespace, "name": name}
    loop = _LOOP.get()
    if loop is not None:
        found["loop"] = loop
    return found


def _with_fields(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        found = fields()
        if found:
            setattr(record, FIELDS, found)
        return record

    make.adds_tenant_fields = True  # type: ignore[attr-defined]
    return make


def _of_resource(record: logging.LogRecord) -> dict[str, str]:
    """The tenant of kopf's own line about a VismaIntegration (its object reference)."""
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, dict) or ref.get("kind") != TENANT_KIND:
        return {}
    return {"namespace": str(ref.get("namespace")), "name": str(ref.get("name"))}


class _TenantJson:
    """Mixed into a JSON formatter (python-json-logger's, which kopf's `--log-format=json`
    uses): the tenant fields become keys of the JSON object, also on kopf's own lines about
    a VismaIntegration (its handlers and daemon)."""

    def add_fields(self, log_record: dict[str, object], record: logging.LogRecord,
                   message_dict: dict[str, object]) -> None:
        super().add_fields(log_record, record, message_dict)  # type: ignore[misc]
        log_record.pop(FIELDS, None)
        log_record.update(getattr(record, FIELDS, None) or _of_resource(record))


_JSON_CLASSES: dict[type, type] = {}


class TenantTextFormatter(logging.Formatter):
    """A plain format, wrapped: a line about a tenant that does not name it starts with
    `[namespace/name]`."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        found: dict[str, str] = getattr(record, FIELDS, {})
        if found and not hasattr(record, "k8s_ref"):  # kopf prefixes its own lines
            key = f"{found['namespace']}/{found['name']}"
            if key not in record.getMessage():
                record = copy.copy(record)
                record.msg, record.args = f"[{key}] {record.getMessage()}", None
        return self.inner.format(record)


def tenant_formatter(formatter: logging.Formatter | None) -> logging.Formatter | None:
    """`formatter`, as `kopf run --log-format` made it, with the tenant fields: a JSON one
    (it has python-json-logger's `add_fields`) the same formatter with the fields as keys,
    a plain one wrapped to name the tenant. Formatters that kopf did not make (another
    library's handler) stay as they are."""
    if formatter is None or not type(formatter).__module__.startswith("kopf."):
        return formatter
    if hasattr(formatter, "add_fields"):
        kind = type(formatter)
        with_fields = _JSON_CLASSES.setdefault(
            kind, type(f"Tenant{kind.__name__}", (_TenantJson, kind), {}))
        json = copy.copy(formatter)  # its settings (kopf's refkey, the fields it writes) kept
        json.__class__ = with_fields
        return json
    return TenantTextFormatter(formatter)


class _NotLiveness(logging.Filter):
    """Drops the HTTP server's access line of a liveness probe."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = str(getattr(record, "first_request_line", ""))
        parts = line.split(" ")
        path = parts[1].split("?")[0] if len(parts) > 1 else ""
        return path != LIVENESS_PATH


class _ProblemsOnly(logging.Filter):
    """Drops kopf's lines about probe handlers below warnings (one per handler per probe)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def setup() -> None:
    """Set up the operator's logging after kopf configured its handler: tenant fields on
    every line, in the format kopf was told; probes quiet. Calling it again changes
    nothing."""
    if not getattr(logging.getLogRecordFactory(), "adds_tenant_fields", False):
        logging.setLogRecordFactory(_with_fields(logging.getLogRecordFactory()))
    for handler in logging.getLogger().handlers:
        handler.setFormatter(tenant_formatter(handler.formatter))
    for logger, quiet in (("aiohttp.access", _NotLiveness), ("kopf.activities.probe",
                                                               _ProblemsOnly)):
        found = logging.getLogger(logger)
        if not any(isinstance(f, quiet) for f in found.filters):
            found.addFilter(quiet())

"""The operator's log lines: the formats of `kopf run --log-format`, set up by `logs.setup()`
as the operator's startup does.

A line of a tenant's pass carries `namespace`, `name` and `loop` as JSON keys; in the plain
format a line about a tenant names it once; a liveness probe (kopf's own health server, with
the operator's probe handlers) leaves no line; no line holds a credential."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import LocalObjectLogger, LogFormat, make_formatter
from kopf._core.engines.indexing import OperatorIndexers
from kopf._core.engines.probing import health_reporter

from reconcilers.runtime import logs
from tests.cluster.operator_process import free_port
from tests.runtime.conftest import ServedTenant, serving, wait_until

pytestmark = pytest.mark.anyio


class Output:
    """A handler on the root logger, as `kopf run` installs it, writing to a buffer."""

    def __init__(self, log_format: LogFormat) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(make_formatter(log_format=log_format,
                                                 log_prefix=log_format is not LogFormat.JSON))

    def text(self) -> str:
        return self.buffer.getvalue()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def output(request: pytest.FixtureRequest) -> Iterator[Output]:
    """The root logger's output in `request.param` (a LogFormat), with the operator's log
    set-up, at INFO as `kopf run` logs."""
    made = Output(request.param)
    root = logging.getLogger()
    level = root.level
    root.addHandler(made.handler)
    root.setLevel(logging.INFO)
    logs.setup()
    try:
        yield made
    finally:
        root.removeHandler(made.handler)
        root.setLevel(level)


def refuse_simon(served: ServedTenant) -> str:
    """Point the tenant at a Secret with a wrong Simon password: its passes that talk to
    Simon fail and log why. Returns the wrong password."""
    cluster = served.cluster
    simon = cluster.resource["spec"]["simon"]["credentialsSecretRef"]["name"]
    wrong = "wrong-password-0f6c2a9e"
    cluster.secrets[f"{simon}-wrong"] = {**cluster.secrets[simon], "password": wrong}
    cluster.change_spec({"simon": {"credentialsSecretRef": {"name": f"{simon}-wrong"}}})
    return wrong


@pytest.mark.parametrize("output", [LogFormat.JSON], indirect=True)
async def test_a_tenant_pass_logs_json_with_namespace_name_and_loop(
        served: ServedTenant, output: Output) -> None:
    """A failed orders pass is logged as a JSON object whose keys name the tenant and the
    loop; lines outside a tenant carry none of them; no line holds the password."""
    metadata = served.cluster.resource["metadata"]
    async with serving(served.service()):
        await served.ready()
        wrong = refuse_simon(served)
        await wait_until(lambda: any("orders loop could not complete" in line["message"]
                                     for line in output.json()),
                         "a line about the failed orders pass", served.cluster)
    lines = output.json()
    failed = [line for line in lines if "loop could not complete" in line["message"]]
    assert failed
    for line in failed:
        assert line["namespace"] == metadata["namespace"]
        assert line["name"] == metadata["name"]
        assert f": {line['loop']} loop could not complete" in line["message"]
    logging.getLogger("reconcilers").warning("a line about no tenant")
    assert not {"namespace", "name", "loop"} & set(output.json()[-1])
    assert wrong not in output.text()


@pytest.mark.parametrize("output", [LogFormat.JSON], indirect=True)
async def test_kopfs_own_lines_about_a_tenant_carry_it_too(output: Output) -> None:
    """kopf's lines about a VismaIntegration (a handler that succeeded, the daemon) carry its
    namespace and name as keys too; its lines about another kind of object do not."""
    settings = kopf.OperatorSettings()
    for kind, name in (("VismaIntegration", "acme"), ("Secret", "acme-simon")):
        body = kopf.Body({"apiVersion": "v1", "kind": kind,
                          "metadata": {"namespace": "shop", "name": name, "uid": "u"}})
        LocalObjectLogger(body=body, settings=settings).info("Handler 'deleted' succeeded.")
    tenant, secret = output.json()
    assert (tenant["namespace"], tenant["name"]) == ("shop", "acme")
    assert "namespace" not in secret and "name" not in secret


@pytest.mark.parametrize("output", [LogFormat.FULL], indirect=True)
async def test_a_plain_line_about_a_tenant_names_it_once(output: Output) -> None:
    """kopf's plain format: a line of a tenant's task that does not name the tenant starts
    with [namespace/name], as kopf's own lines about a resource do; one that names it is
    left as it is."""
    log = logging.getLogger("reconcilers.runtime")

    async def tenant_task() -> None:
        logs.about_tenant("shop/acme")
        logs.in_loop("orders")
        log.warning("the store did not answer")
        log.warning("shop/acme: orders loop could not complete")

    await asyncio.create_task(tenant_task())
    log.warning("no tenant here")
    lines = output.text().splitlines()
    assert lines[0].endswith("[shop/acme] the store did not answer")
    assert lines[1].endswith("] shop/acme: orders loop could not complete")
    assert "[shop/acme]" not in lines[1]
    assert lines[2].endswith("] no tenant here")


@pytest.mark.parametrize("output", [LogFormat.JSON], indirect=True)
async def test_a_liveness_probe_leaves_no_line(output: Output) -> None:
    """kopf's health server, as `kopf run --liveness` starts it, answering probes with a
    probe handler: neither its access line nor kopf's line about the handler is logged;
    another path of the same server is."""
    registry = kopf.OperatorRegistry()

    @kopf.on.probe(id="tenants", registry=registry)
    async def tenants(**_: Any) -> int:
        return 1

    port = free_port()
    started = asyncio.Event()
    server = asyncio.create_task(health_reporter(
        f"http://127.0.0.1:{port}{logs.LIVENESS_PATH}", memo=kopf.Memo(),
        indices=OperatorIndexers().indices, registry=registry, settings=kopf.OperatorSettings(),
        ready_flag=started))
    try:
        await started.wait()

        def get(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return int(r.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert await asyncio.to_thread(get, logs.LIVENESS_PATH) == 200
        assert await asyncio.to_thread(get, "/elsewhere") == 404
        await wait_until(lambda: "/elsewhere" in output.text(), "the other request's line")
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    messages = [line["message"] for line in output.json()]
    assert not [m for m in messages if logs.LIVENESS_PATH in m or "tenants" in m], messages

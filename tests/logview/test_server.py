"""The log view endpoint over real HTTP, on a real store (SQLite and PostgreSQL): what it
answers, what it refuses, and that hostile text survives the JSON."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcilers.logview.entries import LIMIT_MAX, from_json, to_json
from reconcilers.logview.server import LogView, serve_from_environment
from reconcilers.store import Store, open_store
from reconcilers.store.integration_log import stored_key, stored_text

pytestmark = pytest.mark.anyio

TENANT = "office/acme"
OTHER = "office/beta"


def hostile_texts() -> list[str]:
    for folder in Path(__file__).resolve().parents:
        found = folder / "shared" / "data" / "hostile-text.json"
        if found.is_file():
            return [json.loads(case["json"]) for case in json.loads(found.read_text())["cases"]]
    pytest.fail("shared/data/hostile-text.json not found beside the checkout")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def view(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    served = await LogView(store).start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as client:
            yield client
    finally:
        await served.stop()


async def get_log(view: httpx.AsyncClient, tenant: str = TENANT, **query: Any) -> Any:
    answer = await view.get(f"/tenants/{tenant}/log", params=query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


async def test_entries_newest_first_at_least_the_severity_asked(
        store: Store, view: httpx.AsyncClient) -> None:
    log = store.tenant(TENANT).log
    await log.info("customer", "C-1", "customer added")
    await log.warning("item", "I-7", "description cut", "shorten it in Visma.net")
    await log.error("workorder", "WO-3", "no customer", "link a customer in Simon")
    await store.tenant(OTHER).log.error("workorder", "WO-9", "another tenant's")

    answer = await get_log(view)
    assert answer["tenant"] == TENANT
    assert [e["key"] for e in answer["entries"]] == ["WO-3", "I-7", "C-1"]
    assert answer["entries"][0] == {
        **answer["entries"][0], "severity": "error", "table": "workorder",
        "message": "no customer", "action": "link a customer in Simon", "resolved": False,
        "resolvedAt": None}
    assert [e["key"] for e in (await get_log(view, severity="warning"))["entries"]] == [
        "WO-3", "I-7"]
    assert [e["key"] for e in (await get_log(view, severity="error"))["entries"]] == ["WO-3"]
    assert [e["key"] for e in (await get_log(view, limit="2"))["entries"]] == ["WO-3", "I-7"]
    # What the plugin reads back is what the store holds.
    stored = await log.entries()
    assert [from_json(e) for e in answer["entries"]] == [
        from_json(to_json(e)) for e in stored]


async def test_resolved_entries_only_with_all(store: Store, view: httpx.AsyncClient) -> None:
    log = store.tenant(TENANT).log
    await log.error("workorder", "WO-1", "no customer")
    await log.error("workorder", "WO-2", "no customer")
    await log.resolve("workorder", "WO-1")
    assert [e["key"] for e in (await get_log(view))["entries"]] == ["WO-2"]
    every = (await get_log(view, all="true"))["entries"]
    assert {e["key"]: e["resolved"] for e in every} == {"WO-1": True, "WO-2": False}
    assert next(e for e in every if e["key"] == "WO-1")["resolvedAt"]


async def test_a_tenant_the_store_does_not_know_is_404_in_plain_words(
        store: Store, view: httpx.AsyncClient) -> None:
    await store.tenant(TENANT).log.info("customer", "C-1", "customer added")
    answer = await view.get("/tenants/office/nobody/log")
    assert answer.status_code == 404
    assert answer.json() == {"message": answer.json()["message"]}
    assert "no integration log for office/nobody" in answer.json()["message"]


@pytest.mark.parametrize(("query", "says"), [
    ({"severity": "debug"}, "severity must be one of info, warning, error"),
    ({"severity": "ERROR"}, "severity must be one of"),
    ({"limit": "0"}, f"limit must be a whole number from 1 to {LIMIT_MAX}"),
    ({"limit": str(LIMIT_MAX + 1)}, "limit must be a whole number"),
    ({"limit": "-5"}, "limit must be a whole number"),
    ({"limit": "1e3"}, "limit must be a whole number"),
    ({"limit": "\u0661"}, "limit must be a whole number"),  # an Arabic-Indic digit one
    ({"all": "yes"}, "all must be true or false"),
])
async def test_bad_queries_are_400(store: Store, view: httpx.AsyncClient,
                                   query: dict[str, str], says: str) -> None:
    await store.tenant(TENANT).log.info("customer", "C-1", "customer added")
    answer = await view.get(f"/tenants/{TENANT}/log", params=query)
    assert answer.status_code == 400
    assert says in answer.json()["message"]


async def test_the_limit_bounds_what_one_answer_holds(store: Store,
                                                      view: httpx.AsyncClient) -> None:
    log = store.tenant(TENANT).log
    for n in range(60):
        await log.info("customer", f"C-{n}", "customer added")
    assert len((await get_log(view))["entries"]) == 50  # the CLI's default
    assert len((await get_log(view, limit=str(LIMIT_MAX)))["entries"]) == 60


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD"])
async def test_only_get(store: Store, view: httpx.AsyncClient, method: str) -> None:
    await store.tenant(TENANT).log.info("customer", "C-1", "customer added")
    answer = await view.request(method, f"/tenants/{TENANT}/log")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    if method != "HEAD":  # a HEAD answer has no body
        assert answer.json() == {"message": "Method Not Allowed"}
    assert await store.tenant(TENANT).log.entries() != []


@pytest.mark.parametrize("path", ["/", "/tenants", f"/tenants/{TENANT}", "/metrics",
                                  f"/tenants/{TENANT}/log/../../../etc/passwd",
                                  f"/tenants/{TENANT}/status"])
async def test_any_other_path_is_a_json_404(view: httpx.AsyncClient, path: str) -> None:
    answer = await view.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.json()) == {"message"}


@pytest.mark.parametrize("path", ["/tenants/Office/acme/log", "/tenants/office/ACME/log",
                                  "/tenants/office/acme%20/log", "/tenants/%2E%2E/acme/log",
                                  f"/tenants/{'n' * 64}/acme/log",
                                  f"/tenants/office/{'a' * 254}/log",
                                  f"/tenants/office/{'a' * 400}/log",  # longer than a key
                                  "/tenants/office/%1B%5B2J/log"])
async def test_a_path_that_names_no_resource_is_404(view: httpx.AsyncClient, path: str) -> None:
    answer = await view.get(path)
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("no VismaIntegration can be named")


async def test_hostile_text_survives_the_json(store: Store, view: httpx.AsyncClient) -> None:
    """Every string of hostile-text.json as key, message and action comes back as the store
    holds it, in pure ASCII JSON."""
    texts = hostile_texts()
    log = store.tenant(TENANT).log
    for n, text in enumerate(texts):
        await log.error("workorder", f"{n}:{text}", text, text)
    answer = await view.get(f"/tenants/{TENANT}/log", params={"limit": str(LIMIT_MAX)})
    assert answer.status_code == 200
    assert answer.content.isascii()
    entries = {e["key"]: e for e in answer.json()["entries"]}
    for n, text in enumerate(texts):
        entry = entries[stored_key(f"{n}:{text}")]
        assert entry["message"] == stored_text(text)
        assert entry["action"] == stored_text(text)
        from_json(entry)  # the plugin reads every one back


async def test_a_store_that_cannot_be_read_is_500_without_details(
        tmp_path: Path) -> None:
    """The database going away answers 500 with a plain message; nothing of the error (a
    database URL may hold its password) reaches the caller."""
    store = await open_store(f"sqlite:///{tmp_path / 'gone.db'}")
    await store.tenant(TENANT).log.info("customer", "C-1", "customer added")
    served = await LogView(store).start("127.0.0.1", 0)
    try:
        await store.close()
        (tmp_path / "gone.db").unlink()
        (tmp_path / "gone.db").mkdir()  # what was the database is now a folder
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{served.port}/tenants/{TENANT}/log")
    finally:
        await served.stop()
    assert answer.status_code == 500
    assert answer.json() == {"message": "the integration log could not be read now; the "
                                        "operator's log says why"}


async def test_the_environment_turns_it_on_where_asked_and_off_with_port_0(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMON_VISMA_LOG_VIEW_PORT", "0")
    assert await serve_from_environment(store) is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SIMON_VISMA_LOG_VIEW_PORT", str(port))
    monkeypatch.setenv("SIMON_VISMA_LOG_VIEW_ADDRESS", "127.0.0.1")
    served = await serve_from_environment(store)
    assert served is not None and served.port == port
    try:
        await store.tenant(TENANT).log.info("customer", "C-1", "customer added")
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/tenants/{TENANT}/log")
        assert answer.status_code == 200
    finally:
        await served.stop()

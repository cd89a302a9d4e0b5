"""Visma Connect token endpoint and token checks (visma-net.md sections 2 and 14.1; SPEC S-71,
S-82)."""

from __future__ import annotations

import httpx
import pytest

from emulators.visma import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID
from reconcilers.clients.http import AuthError
from tests.visma.conftest import run, seed_basics, token

TENANT_B = "2b9d7c1e-4f3a-4e8b-a6d5-00000000000b"


def _token_response(emulators, **form):
    data = {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET, "tenant_id": DEFAULT_TENANT_ID}
    data.update(form)
    return httpx.post(emulators.url + "/connect/token",
                      data={k: v for k, v in data.items() if v is not None})


def test_token_shape_and_all_scopes_when_omitted(emulators):
    response = _token_response(emulators)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]
    assert "vismanet_erp_service_api:read" in body["scope"].split()
    assert "visma.net.erp.salesorder:write" in body["scope"].split()


def test_expires_in_is_configurable(emulators):
    emulators.visma.token_lifetime = 120
    assert _token_response(emulators).json()["expires_in"] == 120


@pytest.mark.parametrize("form, error", [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"client_id": "nobody"}, "invalid_client"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"scope": "made.up:scope"}, "invalid_scope"),
])
def test_token_refusals(emulators, form, error):
    response = _token_response(emulators, **form)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_erp_scope_only_token_gets_403_on_v3(emulators):
    seed_basics(emulators)
    erp_only = token(emulators, scope="vismanet_erp_service_api:read")
    headers = {"Authorization": f"Bearer {erp_only}"}
    assert httpx.get(emulators.url + "/v1/customer", headers=headers).status_code == 200
    v3 = httpx.get(emulators.url + "/api/v3/SalesOrders", headers=headers)
    assert v3.status_code == 403
    assert v3.content == b""
    so_only = token(emulators, scope="visma.net.erp.salesorder:read")
    erp = httpx.get(emulators.url + "/v1/customer",
                    headers={"Authorization": f"Bearer {so_only}"})
    assert erp.status_code == 403
    assert "message" in erp.json()


def test_missing_or_bad_token_is_401(emulators):
    erp = httpx.get(emulators.url + "/v1/customer")
    assert erp.status_code == 401
    assert "message" in erp.json()
    v3 = httpx.get(emulators.url + "/api/v3/SalesOrders",
                   headers={"Authorization": "Bearer nonsense"})
    assert v3.status_code == 401
    assert v3.content == b""  # the v3 spec gives 401 no body


def test_expired_token_is_401(emulators):
    bearer = {"Authorization": f"Bearer {token(emulators)}"}
    assert httpx.get(emulators.url + "/v1/warehouse", headers=bearer).status_code == 200
    emulators.call(emulators.visma.clock.advance, 3601)
    assert httpx.get(emulators.url + "/v1/warehouse", headers=bearer).status_code == 401


def test_wrong_company_tenant_authenticates_but_api_answers_401(emulators):
    """D-401: a customer tenant id instead of the company tenant id gets a token, and every
    API call answers 401 (ERP: IPPException 12027)."""
    wrong = token(emulators, tenant_id="00000000-dead-beef-0000-000000000000")
    response = httpx.get(emulators.url + "/v1/customer",
                         headers={"Authorization": f"Bearer {wrong}"})
    assert response.status_code == 401
    body = response.json()
    assert body["ExceptionType"] == "IPPException"
    assert body["ExceptionFaultCode"] == "12027"
    assert body["ExceptionMessageID"].startswith("12027_")


@pytest.mark.parametrize("tenant_id, description", [
    (None, "tenant_id is required for this client's APIs."),
    ("", "tenant_id is required for this client's APIs."),
    ("customer-tenant-not-company", "tenant_id is not a valid tenant id."),
    ("6f1c2b7e-0d4e-4a55-9b8e-00000000000", "tenant_id is not a valid tenant id."),
])
def test_token_request_without_a_valid_tenant_is_refused(emulators, tenant_id, description):
    """The ERP and SalesOrders APIs are tenant-based: Visma Connect needs a tenant id (a
    GUID) to issue a token for them (visma-net.md section 2.1, D-svc)."""
    response = _token_response(emulators, tenant_id=tenant_id)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert emulators.visma.connect.tokens == {}


def test_client_without_tenant_raises_auth_error(emulators, make_client):
    client = make_client(tenant_id="")

    async def scenario():
        async with client:
            await client.warehouses()

    with pytest.raises(AuthError) as caught:
        run(scenario())
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    assert emulators.visma.stats.count("GET", "/v1/warehouse") == 0


def test_ipp_company_id_header_is_ignored(emulators, raw):
    response = raw.request("GET", "/v1/warehouse", headers={
        "ipp-company-id": "999", "ipp-application-type": "Visma.net Financials"})
    assert response.status_code == 200


def test_tenants_are_separate_companies(emulators, make_client):
    emulators.call(emulators.visma.add_client, "other-app", "s3cret", [TENANT_B])
    emulators.call(lambda: emulators.visma.company(TENANT_B).add_warehouse("B1", "B"))
    seed_basics(emulators)

    async def scenario():
        async with make_client() as a, make_client(
            tenant_id=TENANT_B, client_id="other-app", client_secret="s3cret"
        ) as b:
            return ([w.warehouse_id for w in await a.warehouses()],
                    [w.warehouse_id for w in await b.warehouses()])

    assert run(scenario()) == (["MAIN", "BUS1", "OUD"], ["B1"])


def test_client_logs_in_once_and_reuses_the_token(emulators, make_client):
    seed_basics(emulators)

    async def scenario(client):
        async with client:
            await client.warehouses()
            await client.sales_order_types()
            await client.customer("10001")
            return client.logins

    assert run(scenario(make_client())) == 1
    assert emulators.visma.stats.count("POST", "/connect/token") == 1


def test_bad_credentials_raise_auth_error_without_retry_storm(emulators, make_client):
    client = make_client(client_secret="wrong")

    async def scenario():
        async with client:
            await client.warehouses()

    with pytest.raises(AuthError) as caught:
        run(scenario())
    assert caught.value.code == "invalid_client"
    assert emulators.visma.stats.count("POST", "/connect/token") == 1
    assert emulators.visma.stats.count("GET", "/v1/warehouse") == 0
    assert "wrong" not in str(caught.value)


def test_wrong_tenant_raises_auth_error_after_one_relogin(emulators, make_client):
    client = make_client(tenant_id="0c5a8e1f-7b2d-4c3e-9f10-c0570e400001")

    async def scenario():
        async with client:
            await client.warehouses()

    with pytest.raises(AuthError) as caught:
        run(scenario())
    assert caught.value.status == 401
    assert caught.value.code == "12027"
    assert emulators.visma.stats.count("POST", "/connect/token") == 2
    assert emulators.visma.stats.count("GET", "/v1/warehouse") == 2


def test_secret_and_token_never_in_repr(make_client):
    client = make_client(client_secret="top-secret-value")
    assert "top-secret-value" not in repr(client)
    assert "top-secret-value" not in str(vars(client).get("client_secret", ""))
    run(client.aclose())

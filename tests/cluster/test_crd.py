"""The VismaIntegration CRD on a real kube-apiserver (DESIGN.md section 2, S-70, S-81).

The API server itself refuses a bad spec with a message naming the field: OpenAPI (required
fields, enums, patterns), CEL (defaultWarehouse for sales orders, schedules from 10 s to 7 days)
and strict field validation (misspelt fields). `kubectl explain` shows the field descriptions
and `kubectl get vismaintegrations` / `vi` / `simon-visma` list the tenants with the columns.
No operator runs in these tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from emulators.launch import tenant_manifests
from tests.cluster.conftest import CRD_NAME, Kube

pytestmark = pytest.mark.cluster

COLUMNS = ["NAME", "ACTIVE", "READY", "CUSTOMERS", "ITEMS", "LAST-SYNC", "LAST-PUSH", "ERRORS",
           "AGE"]


def valid_tenant(namespace: str, name: str = "acme") -> dict[str, Any]:
    resource, _ = tenant_manifests("http://127.0.0.1:9", "6f1c2b7e-0d4e-4a55-9b8e-00000000cafe")
    resource["metadata"] = {"name": name, "namespace": namespace}
    return resource


def without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(spec: dict[str, Any]) -> None:
        node = spec
        for part in parents:
            node = node[part]
        del node[last]

    return change


def setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(spec: dict[str, Any]) -> None:
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


# (id, change to a valid spec, texts the API server's refusal must hold)
REFUSALS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("missing-tenant-id", without("visma.tenantId"), ["spec.visma.tenantId: Required value"]),
    ("empty-tenant-id", setting("visma.tenantId", ""), ["spec.visma.tenantId"]),
    ("missing-visma-secret-ref", without("visma.credentialsSecretRef"),
     ["spec.visma.credentialsSecretRef: Required value"]),
    ("missing-simon-url", without("simon.url"), ["spec.simon.url: Required value"]),
    ("missing-orders", without("orders"), ["spec.orders: Required value"]),
    ("missing-document-type", without("orders.documentType"),
     ["spec.orders.documentType: Required value"]),
    ("bad-document-type", setting("orders.documentType", "Bill"),
     ['spec.orders.documentType: Unsupported value: "Bill"', '"SalesOrder", "Invoice"']),
    ("bad-note", setting("orders.note", "Everything"),
     ['spec.orders.note: Unsupported value: "Everything"']),
    ("bad-attachments", setting("orders.attachments", "All"),
     ['spec.orders.attachments: Unsupported value: "All"']),
    ("bad-wipe-kind", setting("activation.wipeOnReactivation", ["Locations"]),
     ['spec.activation.wipeOnReactivation[0]: Unsupported value: "Locations"']),
    ("duration-in-words", setting("schedule.masterData", "5 minutes"),
     ['spec.schedule.masterData: Invalid value: "5 minutes"']),
    ("duration-in-days", setting("schedule.cleanup", "2d"),
     ['spec.schedule.cleanup: Invalid value: "2d"']),
    ("zero-duration", setting("schedule.orders", "0s"),
     ['spec.schedule.orders: Invalid value: "0s": must be at least 10s, not 0s']),
    # Schedules the operator cannot run: below 10 s or above 7 days.
    ("duration-beyond-any-clock", setting("schedule.masterData", "99999999999999h"),
     ['spec.schedule.masterData: Invalid value: "99999999999999h": must be at most 168h (7 days), '
      "not 99999999999999h"]),
    ("duration-rounds-to-zero", setting("schedule.orders", "0.0001ms"),
     ['spec.schedule.orders: Invalid value: "0.0001ms": must be at least 10s, not 0.0001ms']),
    ("duration-of-a-millisecond", setting("schedule.imports", "1ms"),
     ['spec.schedule.imports: Invalid value: "1ms": must be at least 10s, not 1ms']),
    ("duration-below-the-floor", setting("schedule.orders", "9s"),
     ['spec.schedule.orders: Invalid value: "9s": must be at least 10s, not 9s']),
    ("duration-in-days-above-the-ceiling", setting("schedule.cleanup", "8d"),
     ['spec.schedule.cleanup: Invalid value: "8d"', "use a duration like 30s, 2m or 48h"]),
    ("duration-above-the-ceiling", setting("schedule.cleanup", "168h1s"),
     ['spec.schedule.cleanup: Invalid value: "168h1s": must be at most 168h (7 days), '
      "not 168h1s"]),
    ("sales-order-without-warehouse", without("orders.defaultWarehouse"),
     ["spec.orders.defaultWarehouse: Required value",
      "defaultWarehouse is required when documentType is SalesOrder"]),
    ("not-a-url", setting("simon.url", "simon.example/api"), ["spec.simon.url"]),
    ("bad-secret-name", setting("visma.credentialsSecretRef.name", "Acme_Visma"),
     ["spec.visma.credentialsSecretRef.name"]),
    ("enabled-not-boolean", setting("enabled", "yes"), ["spec.enabled"]),
    # strict field validation: a misspelt field is an error, not a silently pruned setting
    ("unknown-field", setting("orders.worktimeItem", "UUR"),
     ['unknown field "spec.orders.worktimeItem"']),
    ("unknown-section", setting("schedules", {"orders": "10s"}),
     ['unknown field "spec.schedules"']),
]


def test_crd_is_accepted_and_served(kube: Kube) -> None:
    crd = json.loads(kube.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["shortNames"] == ["vi"]
    assert crd["status"]["acceptedNames"]["categories"] == ["simon-visma"]

    resources = kube.kubectl("api-resources", "--api-group=simon-visma.io", "--no-headers").stdout
    assert resources.split() == ["vismaintegrations", "vi", "simon-visma.io/v1alpha1", "true",
                                 "VismaIntegration"]


@pytest.mark.parametrize("change, expected", [pytest.param(c, e, id=i) for i, c, e in REFUSALS])
def test_invalid_spec_is_refused_naming_the_field(
    kube: Kube, namespace: str, change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    resource = valid_tenant(namespace)
    change(resource["spec"])
    refused = kube.apply(resource, check=False)
    assert refused.returncode != 0, f"accepted: {resource['spec']}"
    for text in expected:
        assert text in refused.stderr, refused.stderr
    assert kube.vi(namespace, "acme") is None


def test_without_strict_validation_a_misspelt_field_is_only_a_warning(
    kube: Kube, namespace: str
) -> None:
    """Why the CRD's description asks for `--validate=strict`: otherwise the API server drops
    the unknown field and the setting quietly does nothing."""
    resource = valid_tenant(namespace)
    resource["spec"]["orders"]["worktimeItem"] = "UUR"
    del resource["spec"]["orders"]["workTimeItem"]
    result = kube.kubectl("apply", "--validate=warn", "--dry-run=server", "-o", "json", "-f",
                          "-", input=json.dumps(resource))
    assert 'Warning: unknown field "spec.orders.worktimeItem"' in result.stderr
    assert "worktimeItem" not in json.loads(result.stdout)["spec"]["orders"]


def test_valid_spec_is_accepted_with_defaults(kube: Kube, namespace: str) -> None:
    minimal = valid_tenant(namespace)
    minimal["spec"]["orders"] = {"documentType": "Invoice"}  # invoices need no warehouse
    for key in ("apiUrl", "salesOrderUrl", "tokenUrl"):
        del minimal["spec"]["visma"][key]
    kube.apply(minimal)
    spec = kube.vi(namespace, "acme")["spec"]  # type: ignore[index]
    assert spec["enabled"] is True
    assert spec["schedule"] == {"masterData": "2m", "orders": "30s", "imports": "2m",
                                "cleanup": "48h"}
    assert spec["activation"] == {"wipeOnFirstActivation": ["Customers", "Items",
                                                            "WorkAddresses"],
                                  "wipeOnReactivation": []}
    assert spec["visma"]["apiUrl"] == "https://api.finance.visma.net"
    assert spec["visma"]["tokenUrl"] == "https://connect.visma.com/connect/token"
    assert spec["orders"]["note"] == "WorkAddressAndDescription"
    assert spec["imports"]["salesOrders"] == {"enabled": False, "filterWord": "SIMON",
                                              "includeLines": True}


def test_the_schedule_bounds_themselves_are_accepted(kube: Kube, namespace: str) -> None:
    """10 s and 7 days, however written, are schedules the operator runs."""
    resource = valid_tenant(namespace)
    resource["spec"]["schedule"] = {"masterData": "10s", "orders": "10000ms",
                                    "imports": "604800000ms", "cleanup": "168h"}
    kube.apply(resource)
    assert kube.vi(namespace, "acme")["spec"]["schedule"] == resource["spec"]["schedule"]  # type: ignore[index]


def test_explain_prints_the_field_descriptions(kube: Kube) -> None:
    explained = kube.kubectl("explain", "vismaintegration.spec.orders").stdout
    assert "How a completed and archived Simon work order becomes one Visma.net" in explained
    for name in ("documentType", "defaultWarehouse", "workTimeItem", "travelTimeItem",
                 "fixedItem", "skipWord", "note", "customerReference", "attachments",
                 "pdfSource", "warehouseByUser"):
        assert f"  {name}\t" in explained, name
    assert "documentType\t<string> -required-" in explained
    assert "enum: SalesOrder, Invoice" in explained

    field = kube.kubectl("explain", "vi.spec.orders.workTimeItem").stdout
    assert "the time" in field and "two decimals" in field
    assert "S-42" not in field  # descriptions are for users, not references to the spec

    top = kube.kubectl("explain", "vismaintegrations.spec").stdout
    assert "credentialsSecretRef" not in top  # only the first level
    for name in ("enabled", "visma", "simon", "schedule", "activation", "orders", "imports"):
        assert f"  {name}\t" in top, name


@pytest.mark.parametrize("resource", ["vismaintegrations", "vismaintegration", "vi",
                                      "simon-visma", "vismaintegrations.simon-visma.io"])
def test_kubectl_get_lists_tenants_with_the_columns(
    kube: Kube, namespace: str, resource: str
) -> None:
    first, second = valid_tenant(namespace, "acme"), valid_tenant(namespace, "bolt")
    kube.apply(first, second)
    table = kube.kubectl("get", resource, "-n", namespace).stdout.splitlines()
    assert table[0].split() == COLUMNS
    rows = [line.split() for line in table[1:]]
    assert [row[0] for row in rows] == ["acme", "bolt"]
    # Without an operator nothing is filled in but the age.
    assert all(len(row) == 2 for row in rows), table

    names = kube.kubectl("get", resource, "-n", namespace, "-o", "name").stdout.split()
    assert names == ["vismaintegration.simon-visma.io/acme",
                     "vismaintegration.simon-visma.io/bolt"]
    everywhere = kube.kubectl("get", resource, "--all-namespaces").stdout
    assert everywhere.splitlines()[0].split() == ["NAMESPACE", *COLUMNS]


def test_status_is_a_subresource(kube: Kube, namespace: str) -> None:
    """A spec update cannot write status (and a status patch cannot change the spec), so only
    the operator, with its RBAC on vismaintegrations/status, reports progress (S-81)."""
    resource = valid_tenant(namespace)
    kube.apply(resource)
    with_status = copy.deepcopy(resource)
    with_status["status"] = {"errorCount": 3}
    kube.kubectl("replace", "-f", "-", input=json.dumps(
        {**with_status, "metadata": kube.vi(namespace, "acme")["metadata"]}))  # type: ignore[index]
    assert "status" not in kube.vi(namespace, "acme")  # type: ignore[operator]

    kube.kubectl("patch", "vi", "acme", "-n", namespace, "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": {"errorCount": 2}, "spec": {"enabled": False}}))
    after = kube.vi(namespace, "acme")
    assert after is not None
    assert after["status"]["errorCount"] == 2
    assert after["spec"]["enabled"] is True
    assert after["metadata"]["generation"] == 1
    row = kube.kubectl("get", "vi", "acme", "-n", namespace, "--no-headers").stdout.split()
    assert row[:2] == ["acme", "2"], row  # only the Errors column is filled in

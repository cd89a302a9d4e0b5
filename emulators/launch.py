"""`simon-visma emulate` and `simon-visma demo`: both emulators with a generated tenant.

This package adds the two subcommands to the product's CLI through the entry-point group
`simon_visma.commands` (see pyproject.toml beside this file): `add_emulate` and `add_demo`.

`tenant_files()` writes the VismaIntegration and its Secrets pointing at running emulators,
so the standalone CLI (and `kubectl apply`) can use them as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

import yaml

from emulators.server import EmulatorServer, serve
from emulators.simon import DEFAULT_LICENSE_KEY, DEFAULT_PASSWORD, DEFAULT_USER, SimonEmulator
from emulators.simon.data import add_work_orders, populate
from emulators.visma import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, VismaEmulator
from emulators.visma.data import generate_visma_tenant
from reconcilers.cli import EXIT_OK, main
from reconcilers.logview.terminal import whole_number

TENANT_NAME, TENANT_NAMESPACE = "demo", "tenant-demo"


def generated(size: int, seed: int) -> tuple[VismaEmulator, SimonEmulator, dict[str, Any]]:
    """Emulators holding a tenant of `size` customers (a quarter as many items)."""
    visma, simon = VismaEmulator(), SimonEmulator()
    summary = generate_visma_tenant(visma, customers=size, items=max(20, size // 4), seed=seed)
    populate(simon, seed=seed)
    return visma, simon, summary


def tenant_manifests(base_url: str, tenant_id: str) -> tuple[dict[str, Any], list[dict]]:
    """A VismaIntegration for the emulators at `base_url` and its two Secrets."""
    tenant = {
        "apiVersion": "simon-visma.io/v1alpha1",
        "kind": "VismaIntegration",
        "metadata": {"name": TENANT_NAME, "namespace": TENANT_NAMESPACE},
        "spec": {
            "visma": {
                "tenantId": tenant_id,
                "credentialsSecretRef": {"name": "demo-visma"},
                "apiUrl": base_url,
                "salesOrderUrl": base_url,
                "tokenUrl": f"{base_url}/connect/token",
            },
            "simon": {"url": f"{base_url}/simon",
                      "credentialsSecretRef": {"name": "demo-simon"}},
            "orders": {"documentType": "SalesOrder", "workTimeItem": "UUR",
                       "travelTimeItem": "REIS", "fixedItem": "VOORRIJ",
                       "skipWord": "NIETFACTUREREN", "defaultWarehouse": "MAIN"},
        },
    }
    secrets = [
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "demo-visma", "namespace": TENANT_NAMESPACE},
         "stringData": {"clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET}},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "demo-simon", "namespace": TENANT_NAMESPACE},
         "stringData": {"licenseKey": DEFAULT_LICENSE_KEY, "username": DEFAULT_USER,
                        "password": DEFAULT_PASSWORD}},
    ]
    return tenant, secrets


def tenant_files(folder: Path, base_url: str, tenant_id: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    tenant, secrets = tenant_manifests(base_url, tenant_id)
    tenant_path, secrets_path = folder / "tenant.yaml", folder / "secrets.yaml"
    tenant_path.write_text(yaml.safe_dump(tenant, sort_keys=False))
    secrets_path.write_text(yaml.safe_dump_all(secrets, sort_keys=False))
    return tenant_path, secrets_path


async def emulate(host: str, port: int, size: int, seed: int) -> None:
    visma, simon, summary = generated(size, seed)
    base = f"http://{host}:{port}"
    print(f"Visma.net emulator: {base}  (token URL {base}/connect/token)")
    print(f"  tenantId {summary['tenantId']}  clientId {summary['clientId']}  "
          f"clientSecret {summary['clientSecret']}")
    print(f"  {summary['customers']} customers, {summary['items']} items, warehouses "
          f"{', '.join(summary['warehouses'])}")
    print(f"Simon emulator: {base}/simon")
    print(f"  licenseKey {DEFAULT_LICENSE_KEY}  username {DEFAULT_USER}  "
          f"password {DEFAULT_PASSWORD}")
    print(f"Inspection API: {base}/_emulator/visma/... and {base}/_emulator/simon/...")
    print("Ctrl-C stops.", flush=True)
    await serve(visma, simon, host, port)


def demo(size: int, output: str) -> int:
    """Start the emulators with a generated tenant and run the integration through the CLI:
    activation, master data and cleanup; then archived work orders in Simon go to Visma.net as
    sales orders with their PDFs, which are written to `output` for the user to open."""
    folder = Path(output)
    if folder.exists():
        shutil.rmtree(folder)
    visma, simon, summary = generated(size, seed=1)
    simon_before = {table: len(simon.list(table)) for table in ("customer", "location", "item")}
    with EmulatorServer(visma, simon) as server:
        tenant, secrets = tenant_files(folder, server.url, summary["tenantId"])
        database = f"sqlite:///{(folder / 'simon-visma.db').resolve()}"
        run = ["run", "--tenant", str(tenant), "--secrets", str(secrets), "--once",
               "--database", database]
        print(f"== Emulators at {server.url}: Visma.net with {summary['customers']} customers "
              f"and {summary['items']} items; Simon with {simon_before['customer']} customers "
              "made in Simon itself")
        print(f"== simon-visma run --tenant {tenant} --secrets {secrets} --once "
              "--loop masterdata --loop cleanup")
        code = main([*run, "--loop", "masterdata", "--loop", "cleanup"])
        print("== Simon now holds: " + ", ".join(
            f"{len(server.call(simon.list, table))} {table}s"
            for table in ("customer", "location", "item")))
        made = server.call(add_work_orders, simon, max(10, size // 10), 1)
        print(f"== {len(made)} work orders completed and archived in Simon")
        print(f"== simon-visma run --tenant {tenant} --secrets {secrets} --once --loop orders")
        code = max(code, main([*run, "--loop", "orders"]))
        pdfs = folder / "pdfs"
        pdfs.mkdir()
        company = visma.company(summary["tenantId"])
        for attachment in server.call(lambda: list(company.attachments.values())):
            document = "-".join(attachment.document)
            (pdfs / f"{document}-{attachment.name}").write_bytes(attachment.content)
        print(f"== {len(company.sales_orders)} sales orders in Visma.net; their PDFs are in "
              f"{pdfs}/")
        print(f"== simon-visma log --tenant {TENANT_NAMESPACE}/{TENANT_NAME} --severity warning")
        main(["log", "--tenant", f"{TENANT_NAMESPACE}/{TENANT_NAME}", "--database", database,
              "--severity", "warning", "--limit", "8"])
    print(f"== The tenant, its Secrets and the state database are in {folder}/")
    return code


# --- the subcommands ---------------------------------------------------------------------------

def add_emulate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("emulate", help="serve both API emulators with generated data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=whole_number(0, 65535), default=8080)
    parser.add_argument("--size", type=whole_number(1, 1_000_000), default=200,
                        help="number of Visma.net customers")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=1)
    parser.set_defaults(handler=cmd_emulate)


def add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the whole integration once against emulators")
    parser.add_argument("--size", type=whole_number(1, 1_000_000), default=200,
                        help="number of Visma.net customers")
    parser.add_argument("--output", default="demo-output", metavar="DIR",
                        help="where the demo writes its tenant, secrets and database")
    parser.set_defaults(handler=cmd_demo)


def cmd_emulate(args: argparse.Namespace) -> int:
    asyncio.run(emulate(args.host, args.port, args.size, args.seed))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    return demo(args.size, args.output)

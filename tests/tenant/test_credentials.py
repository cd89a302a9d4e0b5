"""Credentials from Kubernetes Secrets (S-82: own namespace only, never leaked)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconcilers.resource.credentials import (
    CredentialsError,
    SecretsFileError,
    SimonCredentials,
    VismaCredentials,
    load_secrets_file,
    resolve,
)
from reconcilers.resource.tenant import Tenant, load_tenant

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Values that must never show up in an error message or a repr.
SENTINEL = "Sup3r-S3cret-Value"
VISMA_DATA = {"clientId": "acme-client", "clientSecret": SENTINEL}
SIMON_DATA = {"licenseKey": "LIC-" + SENTINEL, "username": "integration@acme.example",
              "password": "pw-" + SENTINEL}


@pytest.fixture
def tenant() -> Tenant:
    return load_tenant(EXAMPLES / "tenant.yaml")


def secret(name: str, *, namespace: str | None = "tenant-acme", data: dict[str, str] | None = None,
           string_data: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                "metadata": {"name": name}}
    if namespace is not None:
        manifest["metadata"]["namespace"] = namespace
    if data is not None:
        manifest["data"] = {key: base64.b64encode(value.encode()).decode()
                            for key, value in data.items()}
    if string_data is not None:
        manifest["stringData"] = string_data
    return manifest


def write(tmp_path: Path, *manifests: dict[str, Any]) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump_all(manifests))
    return path


def assert_no_secret(text: str) -> None:
    assert SENTINEL not in text, "a secret value leaked"


# --------------------------------------------------------------------------- reading


def test_example_secrets_resolve(tenant: Tenant) -> None:
    """S-82: the example Secrets (stringData) give the tenant's two sets of credentials."""
    secrets = load_secrets_file(EXAMPLES / "secrets.yaml")
    visma, simon = resolve(tenant, secrets)
    assert visma.client_id.get_secret_value() == "acme-integration-client"
    assert visma.client_secret.get_secret_value() == "replace-with-the-client-secret"
    assert simon.username.get_secret_value() == "integration@acme.example"
    assert simon.api_key is not None


def test_base64_data(tmp_path: Path, tenant: Tenant) -> None:
    """`data` is base64, as `kubectl get secret -o yaml` shows it."""
    path = write(tmp_path, secret("acme-visma", data=VISMA_DATA),
                 secret("acme-simon", data=SIMON_DATA))
    secrets = load_secrets_file(path)
    assert secrets["tenant-acme/acme-visma"] == VISMA_DATA
    visma, simon = resolve(tenant, secrets)
    assert visma.client_secret.get_secret_value() == SENTINEL
    assert simon.password.get_secret_value() == "pw-" + SENTINEL
    assert simon.api_key is None, "apiKey is optional"


def test_string_data_wins_over_data(tmp_path: Path) -> None:
    """Like the API server: a stringData key replaces the same data key."""
    path = write(tmp_path, secret("acme-visma", data={"clientId": "old", "clientSecret": "kept"},
                                  string_data={"clientId": "new"}))
    assert load_secrets_file(path)["tenant-acme/acme-visma"] == {
        "clientId": "new", "clientSecret": "kept",
    }


def test_list_and_namespace_less_secrets(tmp_path: Path, tenant: Tenant) -> None:
    """A `kind: List` works; a Secret without a namespace is applied to the tenant's own."""
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        secret("acme-visma", namespace=None, string_data=VISMA_DATA),
        secret("acme-simon", namespace=None, string_data=SIMON_DATA),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}},
    ]}))
    secrets = load_secrets_file(path)
    assert set(secrets) == {"acme-visma", "acme-simon"}
    visma, _ = resolve(tenant, secrets)
    assert visma.client_id.get_secret_value() == "acme-client"


def test_values_are_trimmed(tmp_path: Path, tenant: Tenant) -> None:
    """A trailing newline (`echo secret | base64`) is not part of the credential."""
    path = write(tmp_path, secret("acme-visma", data={"clientId": "id\n", "clientSecret": "s\n"}),
                 secret("acme-simon", string_data={**SIMON_DATA, "apiKey": "  "}))
    visma, simon = resolve(tenant, load_secrets_file(path))
    assert visma.client_secret.get_secret_value() == "s"
    assert simon.api_key is None, "an empty optional key counts as absent"


# --------------------------------------------------------------------------- refusals


def test_missing_key(tmp_path: Path, tenant: Tenant) -> None:
    path = write(tmp_path, secret("acme-visma", string_data={"clientId": "acme-client"}),
                 secret("acme-simon", string_data=SIMON_DATA))
    with pytest.raises(CredentialsError) as caught:
        resolve(tenant, load_secrets_file(path))
    assert str(caught.value) == "secret acme-visma: missing key clientSecret"
    assert caught.value.secret == "acme-visma" and caught.value.key == "clientSecret"


def test_empty_key(tmp_path: Path, tenant: Tenant) -> None:
    path = write(tmp_path, secret("acme-visma", string_data=VISMA_DATA),
                 secret("acme-simon", string_data={**SIMON_DATA, "password": ""}))
    with pytest.raises(CredentialsError, match="^secret acme-simon: empty key password$"):
        resolve(tenant, load_secrets_file(path))


def test_missing_secret(tmp_path: Path, tenant: Tenant) -> None:
    path = write(tmp_path, secret("acme-visma", string_data=VISMA_DATA))
    with pytest.raises(CredentialsError) as caught:
        resolve(tenant, load_secrets_file(path))
    assert str(caught.value) == (
        "secret acme-simon: not found in namespace tenant-acme "
        "(named by spec.simon.credentialsSecretRef)"
    )


def test_secret_of_another_namespace_is_not_used(tmp_path: Path, tenant: Tenant) -> None:
    """S-82: credentials come only from Secrets in the resource's own namespace."""
    path = write(tmp_path, secret("acme-visma", namespace="tenant-evil", string_data=VISMA_DATA),
                 secret("acme-simon", string_data=SIMON_DATA))
    with pytest.raises(CredentialsError) as caught:
        resolve(tenant, load_secrets_file(path))
    message = str(caught.value)
    assert message.startswith("secret acme-visma: not found in namespace tenant-acme")
    assert "tenant-evil" in message and "own namespace" in message and "\n" not in message
    assert_no_secret(message)


def test_own_namespace_preferred(tmp_path: Path, tenant: Tenant) -> None:
    """S-82: with same-named Secrets in several namespaces, the tenant's own is used."""
    path = write(
        tmp_path,
        secret("acme-visma", namespace="tenant-evil", string_data={"clientId": "evil",
                                                                    "clientSecret": "evil"}),
        secret("acme-visma", string_data=VISMA_DATA),
        secret("acme-simon", string_data=SIMON_DATA),
    )
    visma, _ = resolve(tenant, load_secrets_file(path))
    assert visma.client_id.get_secret_value() == "acme-client"


def test_duplicate_secret_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, secret("acme-visma", string_data=VISMA_DATA),
                 secret("acme-visma", string_data=VISMA_DATA))
    with pytest.raises(SecretsFileError, match="secret tenant-acme/acme-visma appears more"):
        load_secrets_file(path)


@pytest.mark.parametrize(
    ("manifest_yaml", "expected"),
    [
        pytest.param(
            f"apiVersion: v1\nkind: Secret\nmetadata: {{name: acme-visma}}\n"
            f"data: {{clientSecret: '{SENTINEL}!!'}}\n",
            "secret acme-visma: data.clientSecret is not base64-encoded UTF-8 text",
            id="bad-base64",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: acme-visma}\n"
            "stringData: {clientSecret: 123456789}\n",
            "secret acme-visma: stringData.clientSecret must be a string",
            id="number-in-string-data",
        ),
        pytest.param(
            f"apiVersion: v1\nkind: Secret\nmetadata: {{name: acme-visma}}\n"
            f"stringData:\n  clientSecret: {SENTINEL}: oops\n",
            "not valid YAML at line 5",
            id="broken-yaml",
        ),
        pytest.param(
            f"apiVersion: v1\nkind: Secret\nmetadata: {{}}\nstringData: {{a: {SENTINEL}}}\n",
            "document 1: Secret without metadata.name",
            id="nameless",
        ),
    ],
)
def test_secrets_file_errors_hold_no_values(
    tmp_path: Path, manifest_yaml: str, expected: str
) -> None:
    """S-82: a malformed secrets file is one line naming secret and key, never a value."""
    path = tmp_path / "secrets.yaml"
    path.write_text(manifest_yaml)
    with pytest.raises(SecretsFileError) as caught:
        load_secrets_file(path)
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert_no_secret(message)
    assert_no_secret(repr(caught.value))


def test_unreadable_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(SecretsFileError, match="cannot read the secrets file"):
        load_secrets_file(tmp_path / "absent.yaml")


def test_credentials_never_print() -> None:
    """S-82: credentials stay out of repr, str and dumps (and so out of logs and status)."""
    visma = VismaCredentials(client_id="acme-client", client_secret=SENTINEL)
    simon = SimonCredentials(license_key="LIC-" + SENTINEL, username="u",
                             password="pw-" + SENTINEL, api_key="key-" + SENTINEL)
    for text in (repr(visma), str(visma), repr(simon), str(simon),
                 visma.model_dump_json(), simon.model_dump_json(), f"{simon!r}"):
        assert_no_secret(text)
    assert simon.api_key is not None
    assert simon.api_key.get_secret_value() == "key-" + SENTINEL


def test_resolve_errors_hold_no_values(tenant: Tenant) -> None:
    """S-82: whatever is wrong, the message names the Secret and key only."""
    cases: list[dict[str, dict[str, str]]] = [
        {"acme-visma": {"clientId": SENTINEL}, "acme-simon": SIMON_DATA},
        {"acme-visma": VISMA_DATA, "acme-simon": {"licenseKey": SENTINEL, "password": SENTINEL}},
        {"tenant-other/acme-visma": VISMA_DATA, "acme-simon": SIMON_DATA},
    ]
    for secrets in cases:
        with pytest.raises(CredentialsError) as caught:
            resolve(tenant, secrets)
        assert_no_secret(str(caught.value))
        assert_no_secret(repr(caught.value))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"x" * (1024 * 1024 + 1), "larger than 1 MiB", id="huge"),
        pytest.param(b"\x00\x01binary", "a binary file, not YAML text", id="binary"),
        pytest.param(
            b"a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + b"".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n".encode()
                       for n in range(1, 10)),
            "once its aliases (*name) are expanded", id="alias-bomb"),
        pytest.param(b"stringData: " + b"[" * 200 + b"]" * 200, "nested more than 64 levels",
                     id="deep"),
    ],
)
def test_secrets_files_out_of_bounds(tmp_path: Path, content: bytes, expected: str) -> None:
    """The secrets file is read with the tenant file's bounds: 1 MiB, text, bounded nesting
    and alias expansion; one line each, never a value."""
    path = tmp_path / "secrets.yaml"
    path.write_bytes(content)
    with pytest.raises(SecretsFileError) as caught:
        load_secrets_file(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_device_is_not_read_as_secrets_file() -> None:
    with pytest.raises(SecretsFileError, match="not a regular file"):
        load_secrets_file("/dev/zero")

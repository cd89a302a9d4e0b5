"""Credentials from Kubernetes Secrets (DESIGN.md section 2, S-82).

A VismaIntegration names two Secrets in its own namespace:

- `spec.visma.credentialsSecretRef` with keys `clientId`, `clientSecret`;
- `spec.simon.credentialsSecretRef` with keys `licenseKey`, `username`, `password` and,
  optionally, `apiKey`.

In the cluster the operator reads those Secrets itself and hands their decoded data to
`resolve`; in standalone mode `load_secrets_file` reads ordinary `kind: Secret` manifests.
Values are held as `SecretStr` and never appear in a message, a repr or a log line: errors
name the Secret and the key, never the value.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from reconcilers.resource.tenant import Tenant
from reconcilers.resource.yamlfile import YamlFileError, load_documents, read_text_file

__all__ = [
    "SIMON_KEYS",
    "VISMA_KEYS",
    "CredentialsError",
    "SecretsFileError",
    "SimonCredentials",
    "VismaCredentials",
    "load_secrets_file",
    "resolve",
]

VISMA_KEYS = ("clientId", "clientSecret")
SIMON_KEYS = ("licenseKey", "username", "password")
SIMON_OPTIONAL_KEYS = ("apiKey",)


class CredentialsError(ValueError):
    """Credentials that cannot be had; `str()` is one line and never holds a secret value."""

    def __init__(self, message: str, *, secret: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.secret = secret
        self.key = key


class SecretsFileError(CredentialsError):
    """A secrets file that cannot be read or holds a malformed Secret (CLI exit code 2)."""


class _Credentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VismaCredentials(_Credentials):
    """Visma Connect client credentials (OAuth2 client_credentials grant)."""

    client_id: SecretStr
    client_secret: SecretStr


class SimonCredentials(_Credentials):
    """Simon API access: license key, user and password, and an optional API key."""

    license_key: SecretStr
    username: SecretStr
    password: SecretStr
    api_key: SecretStr | None = None


# --------------------------------------------------------------------------- secrets file


def load_secrets_file(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Read `kind: Secret` manifests (multi-document YAML and/or `kind: List`).

    Returns decoded data per Secret: ``{name: {key: value}}``. A Secret whose manifest sets
    `metadata.namespace` is keyed ``"namespace/name"`` instead, so `resolve` can keep to the
    tenant's own namespace (S-82); one without a namespace is taken to live in the namespace
    it would be applied to, the tenant's. `data` is base64 (UTF-8 text once decoded),
    `stringData` is plain text and wins over `data` for the same key, as with the API server.
    Documents of other kinds are ignored. Raises SecretsFileError (no values in it).
    """
    file = Path(path)
    try:
        text = read_text_file(file)
    except OSError as exc:
        raise SecretsFileError(
            f"{file}: cannot read the secrets file ({exc.strerror or type(exc).__name__})"
        ) from None
    except YamlFileError as exc:
        raise SecretsFileError(f"{file}: {exc}") from None
    try:
        documents = load_documents(text)
    except YamlFileError as exc:
        # Only the position: PyYAML's description of the problem could quote a secret value.
        where = f" at {exc.position}" if exc.position else ""
        raise SecretsFileError(f"{file}: {exc}{where}") from None

    secrets: dict[str, dict[str, str]] = {}
    for number, manifest in _manifests(documents, file):
        if manifest.get("kind") != "Secret":
            continue
        metadata = manifest.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            raise SecretsFileError(f"{file}: document {number}: Secret without metadata.name")
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        if namespace is not None and not isinstance(namespace, str):
            raise SecretsFileError(f"{file}: secret {name}: metadata.namespace must be a string",
                                   secret=name)
        key = f"{namespace}/{name}" if namespace else name
        if key in secrets:
            raise SecretsFileError(f"{file}: secret {key} appears more than once", secret=name)
        secrets[key] = _secret_data(manifest, name, file)
    return secrets


def _manifests(documents: Iterable[Any], file: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise SecretsFileError(f"{file}: document {number} is not a Kubernetes object")
        if document.get("kind") == "List":
            items = document.get("items") or []
            if not isinstance(items, list):
                raise SecretsFileError(f"{file}: document {number}: items must be a list")
            for item in items:
                if not isinstance(item, dict):
                    raise SecretsFileError(
                        f"{file}: document {number}: a List item is not a Kubernetes object"
                    )
                yield number, item
        else:
            yield number, document


def _secret_data(manifest: Mapping[str, Any], name: str, file: Path) -> dict[str, str]:
    data = manifest.get("data") or {}
    string_data = manifest.get("stringData") or {}
    for field, section in (("data", data), ("stringData", string_data)):
        if not isinstance(section, dict):
            raise SecretsFileError(f"{file}: secret {name}: {field} must be a mapping",
                                   secret=name)
    result: dict[str, str] = {}
    for key, encoded in data.items():
        if not isinstance(encoded, str):
            raise SecretsFileError(
                f"{file}: secret {name}: data.{key} must be a base64 string", secret=name, key=key
            )
        try:
            result[str(key)] = base64.b64decode("".join(encoded.split()), validate=True).decode(
                "utf-8"
            )
        except (binascii.Error, ValueError):
            raise SecretsFileError(
                f"{file}: secret {name}: data.{key} is not base64-encoded UTF-8 text "
                "(use stringData for plain text)",
                secret=name,
                key=key,
            ) from None
    for key, value in string_data.items():
        if not isinstance(value, str):
            raise SecretsFileError(
                f"{file}: secret {name}: stringData.{key} must be a string; put it in quotes",
                secret=name,
                key=key,
            )
        result[str(key)] = value
    return result


# --------------------------------------------------------------------------- resolve


def resolve(
    tenant: Tenant, secrets: Mapping[str, Mapping[str, str]]
) -> tuple[VismaCredentials, SimonCredentials]:
    """The tenant's Visma.net and Simon credentials from its two Secrets.

    `secrets` maps a Secret name (or "namespace/name", as `load_secrets_file` returns for
    manifests that name their namespace) to its decoded data. Only Secrets of the tenant's
    own namespace are used (S-82). Values are stripped of surrounding white space (a
    trailing newline from `echo ... | base64` is a classic); an empty value counts as
    missing. Raises CredentialsError naming the Secret and key, never a value.
    """
    visma_name = tenant.spec.visma.credentials_secret_ref.name
    simon_name = tenant.spec.simon.credentials_secret_ref.name
    visma = _lookup(tenant, secrets, visma_name, "spec.visma.credentialsSecretRef")
    simon = _lookup(tenant, secrets, simon_name, "spec.simon.credentialsSecretRef")
    visma_values = _values(visma_name, visma, VISMA_KEYS, ())
    simon_values = _values(simon_name, simon, SIMON_KEYS, SIMON_OPTIONAL_KEYS)
    return (
        VismaCredentials(
            client_id=SecretStr(visma_values["clientId"]),
            client_secret=SecretStr(visma_values["clientSecret"]),
        ),
        SimonCredentials(
            license_key=SecretStr(simon_values["licenseKey"]),
            username=SecretStr(simon_values["username"]),
            password=SecretStr(simon_values["password"]),
            api_key=SecretStr(simon_values["apiKey"]) if "apiKey" in simon_values else None,
        ),
    )


def _lookup(
    tenant: Tenant, secrets: Mapping[str, Mapping[str, str]], name: str, field: str
) -> Mapping[str, str]:
    for key in (f"{tenant.namespace}/{name}", name):
        if key in secrets:
            return secrets[key]
    elsewhere = sorted(
        key.split("/", 1)[0] for key in secrets if "/" in key and key.split("/", 1)[1] == name
    )
    if elsewhere:
        raise CredentialsError(
            f"secret {name}: not found in namespace {tenant.namespace} (named by {field}); "
            f"a Secret of that name in namespace {', '.join(elsewhere)} is not used: "
            "secrets are read only from the resource's own namespace",
            secret=name,
        )
    raise CredentialsError(
        f"secret {name}: not found in namespace {tenant.namespace} (named by {field})",
        secret=name,
    )


def _values(
    name: str, data: Mapping[str, str], required: Iterable[str], optional: Iterable[str]
) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in (*required, *optional):
        raw = data.get(key)
        if raw is not None and not isinstance(raw, str):
            raise CredentialsError(f"secret {name}: key {key} is not text", secret=name, key=key)
        value = (raw or "").strip()
        if value:
            values[key] = value
        elif key in required:
            reason = "missing key" if raw is None else "empty key"
            raise CredentialsError(f"secret {name}: {reason} {key}", secret=name, key=key)
    return values

"""Which tenants read which Secrets, so that a change to a Secret reaches the tenants that use
it, and no others.

The operator watches the Secrets of the namespaces it serves; a tenant's service registers the
two Secrets its spec names (`follow`) when it starts and whenever its spec changes, and
`changed` tells the services that use a Secret that it changed. Only names are kept here,
never a Secret's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

SecretKey = tuple[str, str]
"""(namespace, Secret name)."""


class SecretUser(Protocol):
    def secrets_changed(self) -> None: ...


class SecretIndex:
    def __init__(self) -> None:
        self._users: dict[SecretKey, set[SecretUser]] = {}
        self._used: dict[SecretUser, frozenset[SecretKey]] = {}

    def follow(self, user: SecretUser, namespace: str, names: Iterable[str]) -> None:
        """`user` reads these Secrets of `namespace` now (instead of any it read before)."""
        keys = frozenset((namespace, name) for name in names)
        if self._used.get(user) == keys:
            return
        self.forget(user)
        self._used[user] = keys
        for key in keys:
            self._users.setdefault(key, set()).add(user)

    def forget(self, user: SecretUser) -> None:
        """`user` reads no Secrets any more (its tenant stopped)."""
        for key in self._used.pop(user, frozenset()):
            users = self._users.get(key, set())
            users.discard(user)
            if not users:
                self._users.pop(key, None)

    def referenced(self, namespace: str, name: str) -> bool:
        """Whether a tenant reads this Secret."""
        return (namespace, name) in self._users

    def changed(self, namespace: str, name: str) -> int:
        """Tell every tenant that reads this Secret that it changed; how many were told."""
        users = list(self._users.get((namespace, name), ()))
        for user in users:
            user.secrets_changed()
        return len(users)

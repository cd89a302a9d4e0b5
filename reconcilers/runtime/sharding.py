"""Which replica serves a tenant: rendezvous (highest-random-weight) hashing.

Every replica of an installation knows the same set of live members (the replica Leases,
`reconcilers.kube.leases`). For each tenant, every member gets a weight from a hash of the
member's name and the resource's uid; the member with the highest weight serves the tenant.
All replicas compute the same answer without talking to each other, and when a member joins
or leaves only the tenants that member wins or held move (about 1/n of them); no other
tenant changes hands. That is what Argo CD and timebertt/kubernetes-controller-sharding rely
on as well; unlike a ring it needs no virtual nodes to balance.

Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def weight(member: str, key: str) -> int:
    """The member's weight for a key: the first 8 bytes of BLAKE2b over both (stable across
    processes and Python versions, unlike `hash()`)."""
    digest = hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member that serves `key` (a resource uid); None when there are no members. Ties
    (practically impossible with 64-bit weights) go to the greater name, so every replica picks
    the same one."""
    return max(members, key=lambda member: (weight(member, key), member), default=None)


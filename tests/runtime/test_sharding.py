"""Rendezvous hashing of tenants over replicas (reconcilers/runtime/sharding.py): every replica
computes the same owner, tenants spread evenly, and a member joining or leaving moves only the
tenants it wins or held."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcilers.runtime.sharding import owner, weight

members = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1,
                           max_size=30), min_size=1, max_size=12, unique=True)
uids = st.lists(st.uuids().map(str), min_size=1, max_size=200, unique=True)


@given(members, uids, st.data())
def test_every_replica_computes_the_same_owner_whatever_order_it_lists_the_members(
        names: list[str], keys: list[str], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(names))
    for key in keys:
        assert owner(key, names) == owner(key, shuffled) == owner(key, tuple(reversed(names)))
        assert owner(key, names) in names


def test_weights_are_stable_across_processes() -> None:
    """A fixed value: Python's hash() is salted per process, this must not be."""
    assert weight("a", "b") == 0xffc151170352baa3


def test_no_members_serve_nothing() -> None:
    assert owner("uid", []) is None


@given(members, uids, st.text(min_size=1, max_size=30))
def test_a_member_joining_takes_tenants_only_for_itself(names: list[str], keys: list[str],
                                                          joining: str) -> None:
    if joining in names:
        return
    for key in keys:
        before, after = owner(key, names), owner(key, [*names, joining])
        assert after in (before, joining)


@given(members.filter(lambda names: len(names) > 1), uids, st.data())
def test_a_member_leaving_moves_only_its_own_tenants(names: list[str], keys: list[str],
                                                      data: st.DataObject) -> None:
    leaving = data.draw(st.sampled_from(names))
    rest = [name for name in names if name != leaving]
    for key in keys:
        before = owner(key, names)
        if before != leaving:
            assert owner(key, rest) == before


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=2, max_value=6))
def test_tenants_spread_evenly(replicas: int) -> None:
    """3,000 tenants over n replicas: each replica serves its share within 20%."""
    names = [f"simon-visma-{uuid.uuid4().hex[:5]}" for _ in range(replicas)]
    counts = Counter(owner(str(uuid.uuid4()), names) for _ in range(3000))
    share = 3000 / replicas
    assert set(counts) == set(names)
    assert all(abs(count - share) < 0.2 * share for count in counts.values()), counts

"""Who may hold a tenant (reconcilers/kube/holds.py): the rules that keep two installations from
serving one tenant and let a killed replica's tenants move once its Lease is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconcilers.kube.holds import HOLD_ANNOTATION, Hold, Holds, hold_of
from reconcilers.kube.leases import Membership, Replica

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ME = Replica("blue-a", "operators", "blue")


def holds(*alive: str) -> Holds:
    membership = Membership(ME)
    membership.members = frozenset({ME.pod, *alive})
    return Holds(None, membership, seconds=180)  # type: ignore[arg-type]  # no API call here


def body(hold: Hold | str | None) -> dict[str, object]:
    value = hold.to_annotation() if isinstance(hold, Hold) else hold
    return {"metadata": {"annotations": {HOLD_ANNOTATION: value} if value else {}}}


def test_a_hold_reads_back_as_written() -> None:
    hold = Hold("blue", "blue-b", NOW)
    assert hold_of(body(hold)) == hold
    assert hold_of(body(None)) is None


@pytest.mark.parametrize("garbage", ["not json", "{}", '{"pod": "x"}', "[1]"])
def test_an_unreadable_hold_is_nobodys(garbage: str) -> None:
    assert hold_of(body(garbage)) is None


def test_a_free_or_own_tenant_may_be_taken() -> None:
    assert holds().may_take(None, NOW)
    assert holds().may_take(Hold("blue", "blue-a", NOW - timedelta(hours=1)), NOW)


def test_another_installation_keeps_its_tenant_while_it_renews_its_hold() -> None:
    fresh = Hold("green", "green-a", NOW - timedelta(seconds=179))
    assert not holds().may_take(fresh, NOW)
    assert not holds("green-a").may_take(fresh, NOW)  # a pod name alone says nothing
    assert holds().may_take(Hold("green", "green-a", NOW - timedelta(seconds=180)), NOW)


def test_a_replica_of_the_same_installation_holds_it_while_its_lease_lives() -> None:
    hold = Hold("blue", "blue-b", NOW)
    assert not holds("blue-b").may_take(hold, NOW)  # handing over: wait for its release
    assert holds().may_take(hold, NOW)  # its Lease expired: killed, take over now

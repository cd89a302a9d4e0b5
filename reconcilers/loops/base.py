"""What every loop of a tenant is: a name, an interval, a pass, and what a pass reports.

Each loop module declares its loop at its end (`MasterDataLoop`, `CleanupLoop`, `OrdersLoop`,
`ImportsLoop`), and `reconcilers.runtime.runner.LOOPS` lists them once. The runner, the
schedule, metrics, status and the CLI go over that list; none of them names a loop.

- `Loop.name` is the loop's one spelling: the resource's field name, the same in
  `spec.schedule` and in `status` (`masterData`, `cleanup`, `orders`, `imports`). Its
  lower-case form, `Loop.key`, is what the CLI (`--loop masterdata`), the `--json` summary
  (`loops.masterdata`), the metrics (`loop="masterdata"`) and the store's schedule rows use.
- `Loop.run(context)` is one pass. It returns the loop's own result type, or raises
  `LoopFailed` when the pass could not complete, carrying what the pass did until then.
- The result renders what a pass did (`LoopResult`): its part of the `--json` summary, its
  lines of the CLI's text summary and its metrics. The loop renders its `status` section (it
  reads the store) and the conditions its last pass sets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from reconcilers.clients.simon.client import SimonClient
from reconcilers.clients.visma.client import VismaClient
from reconcilers.loops.activation import SettingsCheck
from reconcilers.resource.spec import Schedule, VismaIntegrationSpec
from reconcilers.resource.status import ConditionType, VismaIntegrationStatus
from reconcilers.resource.tenant import Tenant
from reconcilers.store import TenantState
from reconcilers.store.records import LoopSchedule


def field_named(model: type[BaseModel], alias: str) -> str:
    """The Python name of the field of `model` whose wire name is `alias` (`masterData` ->
    `master_data`); KeyError when there is none."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == alias:
            return name
    raise KeyError(f"{model.__name__} has no field {alias!r}")


class LoopContext(Protocol):
    """What a pass works with: the tenant as its spec is now, its clients and state, the last
    settings check and what Simon refused (`reconcilers.runtime.runner.TenantRun` is one)."""

    @property
    def tenant(self) -> Tenant: ...

    @property
    def visma(self) -> VismaClient: ...

    @property
    def simon(self) -> SimonClient: ...

    @property
    def state(self) -> TenantState: ...

    @property
    def settings(self) -> SettingsCheck | None: ...

    @property
    def refused(self) -> dict[str, str]: ...


class Meter(Protocol):
    """Where a result counts what it did, for one tenant (the operator's metrics)."""

    def records_written(self, kind: str, count: int) -> None:
        """`count` records of `kind` (customers, items, workaddresses) written to Simon."""

    def documents_sent(self, count: int) -> None:
        """`count` work orders sent to Visma.net as documents."""


@dataclass(frozen=True)
class ConditionUpdate:
    """A status condition a loop's last pass sets (metav1.Condition: type, status True when
    `ok`, reason, message)."""

    type: ConditionType
    ok: bool
    reason: str
    message: str


class LoopResult(ABC):
    """What one pass of a loop did."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The pass's part of the `--json` summary (`loops.<key>`), without `ok` and `error`."""

    @abstractmethod
    def lines(self) -> list[str]:
        """The lines under the loop's own line in the CLI's text summary."""

    def observe(self, meter: Meter) -> None:
        """Count what the pass did in the metrics (only a pass that completed is counted);
        by default there is nothing to count beyond the loop's runs."""
        return None


class LoopFailed(Exception):
    """A pass that could not complete; `partial` is what it did until then, if anything (a
    master-data pass's progress, a cleanup held by the brake, an orders pass cut short)."""

    def __init__(self, message: str, partial: LoopResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


R = TypeVar("R", bound=LoopResult)
S = TypeVar("S", bound=BaseModel)


class Loop(ABC, Generic[R, S]):
    """One loop of a tenant: `R` is the result of a pass, `S` the loop's `status` section."""

    name: ClassVar[str]
    """The resource's field name: `spec.schedule.<name>`, `status.<name>`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None):  # the one spelling must be the resource's
            field_named(Schedule, cls.name)
            field_named(VismaIntegrationStatus, cls.name)

    @property
    def key(self) -> str:
        """The lower-case name: the CLI's `--loop`, the `--json` summary's key, the metrics'
        `loop` label and the store's schedule row."""
        return self.name.lower()

    def interval(self, spec: VismaIntegrationSpec) -> timedelta:
        """How often the loop runs: `spec.schedule.<name>`."""
        interval: timedelta = getattr(spec.schedule, field_named(Schedule, self.name))
        return interval

    @abstractmethod
    async def run(self, context: LoopContext) -> R:
        """One pass, with the spec as it is now; LoopFailed when it could not complete."""

    @abstractmethod
    async def status(self, state: TenantState, schedule: LoopSchedule | None,
                     latest: R | None, previous: S | None) -> S:
        """The loop's `status` section: from the store, the loop's schedule row, the result
        of the latest pass when it completed (None when there is none or it failed), and
        the section as status had it before."""

    def conditions(self, result: R | None, error: str | None) -> list[ConditionUpdate]:
        """The conditions the latest pass sets: `result` what it did (None when it did
        nothing), `error` why it could not complete (None when it did)."""
        return []

    def __repr__(self) -> str:
        return f"<loop {self.name}>"

"""The `VismaIntegration` status (S-81): what the operator writes back to `.status`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconcilers.resource.spec import WipeKind

RECENT_ERRORS_LIMIT = 10
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"



class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """The condition types the operator writes (S-81); `Condition.type` accepts any."""

    READY = "Ready"
    ACTIVE = "Active"
    SETTINGS_VALID = "SettingsValid"
    SYNCED = "Synced"
    CLEANUP_HELD = "CleanupHeld"


# --------------------------------------------------------------------------- status


class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_StatusModel):
    """A metav1.Condition."""

    type: Annotated[str, StringConstraints(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    status: ConditionStatus
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    ]
    message: Annotated[str, StringConstraints(max_length=32768)]
    last_transition_time: datetime
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class Progress(_StatusModel):
    """Records done of the total Visma.net reports (`metadata.totalCount`) (S-15)."""

    done: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)] | None = None


class MasterDataProgress(_StatusModel):
    customers: Progress | None = None
    items: Progress | None = None


class HighestModified(_StatusModel):
    """Newest `lastModifiedDateTime` seen per entity kind (S-14)."""

    customers: datetime | None = None
    items: datetime | None = None


class MasterDataStatus(_StatusModel):
    last_success_time: datetime | None = None
    customers: Annotated[int, Field(ge=0)] | None = None
    items: Annotated[int, Field(ge=0)] | None = None
    work_addresses: Annotated[int, Field(ge=0)] | None = None
    highest_modified: HighestModified | None = None
    progress: MasterDataProgress | None = None


class EntityCounts(_StatusModel):
    customers: Annotated[int, Field(ge=0)] | None = None
    items: Annotated[int, Field(ge=0)] | None = None
    work_addresses: Annotated[int, Field(ge=0)] | None = None


class CleanupStatus(_StatusModel):
    last_success_time: datetime | None = None
    next_run_time: datetime | None = None
    removed: EntityCounts | None = None


class OrdersStatus(_StatusModel):
    last_success_time: datetime | None = None
    sent: Annotated[int, Field(ge=0)] | None = None
    failed: Annotated[int, Field(ge=0)] | None = None
    waiting: Annotated[int, Field(ge=0)] | None = None
    passed_over: Annotated[int, Field(ge=0)] | None = None


class ImportsStatus(_StatusModel):
    last_success_time: datetime | None = None
    imported: Annotated[int, Field(ge=0)] | None = None


class ActivationStatus(_StatusModel):
    activated_at: datetime | None = None
    wiped: list[WipeKind] | None = None


class RecentError(_StatusModel):
    """One of the latest errors of the integration log (S-80)."""

    time: datetime
    table: str | None = None
    key: str | None = None
    message: str
    action: str | None = None


class VismaIntegrationStatus(_StatusModel):
    """`status` of a VismaIntegration (S-81). Every field is optional.

    `error_count` mirrors `len(recent_errors)` for the Errors printer column (a JSONPath
    cannot count a list); it is kept in step whenever `recent_errors` is set.
    """

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    company_id: str | None = None
    conditions: list[Condition] | None = None
    master_data: MasterDataStatus | None = None
    cleanup: CleanupStatus | None = None
    orders: OrdersStatus | None = None
    imports: ImportsStatus | None = None
    activation: ActivationStatus | None = None
    recent_errors: Annotated[list[RecentError], Field(max_length=RECENT_ERRORS_LIMIT)] | None = (
        None
    )
    error_count: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _count_errors(self) -> VismaIntegrationStatus:
        if self.recent_errors is not None:
            self.error_count = len(self.recent_errors)
        return self

    def get_condition(self, type_: str) -> Condition | None:
        for condition in self.conditions or []:
            if condition.type == type_:
                return condition
        return None

    def set_condition(
        self,
        type_: str,
        status: ConditionStatus | bool,
        reason: str,
        message: str,
        *,
        now: datetime,
        observed_generation: int | None = None,
    ) -> bool:
        """Add or update a condition; `lastTransitionTime` moves only when status changes.

        Returns True when anything changed (so the caller knows whether to patch).
        """
        if isinstance(status, bool):
            status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
        conditions = list(self.conditions or [])
        old = self.get_condition(type_)
        new = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=(
                old.last_transition_time if old is not None and old.status == status else now
            ),
            observed_generation=observed_generation,
        )
        if old == new:
            return False
        if old is None:
            conditions.append(new)
        else:
            conditions[conditions.index(old)] = new
        self.conditions = conditions
        return True

    def record_error(self, error: RecentError) -> None:
        """Keep the newest RECENT_ERRORS_LIMIT errors, newest last, and the count in step."""
        errors = [*(self.recent_errors or []), error][-RECENT_ERRORS_LIMIT:]
        self.recent_errors = errors
        self.error_count = len(errors)

    def to_wire(self) -> dict[str, Any]:
        """The status as a merge-patch body (camelCase, unset fields left out)."""
        if self.recent_errors is not None:
            self.error_count = len(self.recent_errors)
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)



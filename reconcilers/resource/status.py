"""The `VismaIntegration` status (S-81): what the operator writes back to `.status`.

Like the spec, these models are the API: the CRD's status schema is generated from them
(`python -m reconcilers.resource.crd`), each field's `description` included.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

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

    type: Annotated[str, StringConstraints(max_length=316, pattern=CONDITION_TYPE_PATTERN)] = (
        Field(description="Type of condition in CamelCase (Ready, Active, SettingsValid, Synced)."))
    status: ConditionStatus = Field(
        description="Status of the condition, one of True, False, Unknown.")
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    ] = Field(description="A CamelCase, machine-readable reason for the last transition.")
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(description=(
        "A human-readable message about the transition; never holds credentials."))
    last_transition_time: datetime = Field(
        description="When the condition last changed from one status to another.")
    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        None, description="The metadata.generation the condition was set for.")


class Progress(_StatusModel):
    """Records done of the total Visma.net reports (`metadata.totalCount`) (S-15)."""

    done: Annotated[int, Field(ge=0)] = Field(description="Records done.")
    total: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Records in total (Visma.net metadata.totalCount).")


class MasterDataProgress(_StatusModel):
    customers: Progress | None = Field(None, description="Customers done so far.")
    items: Progress | None = Field(None, description="Items done so far.")


class HighestModified(_StatusModel):
    """Newest `lastModifiedDateTime` seen per entity kind (S-14)."""

    customers: datetime | None = Field(None, description="Newest customer change seen.")
    items: datetime | None = Field(None, description="Newest item change seen.")


Count = Annotated[int, Field(ge=0)]


class MasterDataStatus(_StatusModel):
    last_success_time: datetime | None = Field(
        None, description="When the last master-data pass finished successfully.")
    customers: Count | None = Field(None, description="Customers mirrored into Simon.")
    items: Count | None = Field(None, description="Non-stock items mirrored into Simon.")
    work_addresses: Count | None = Field(None, description=(
        "Work addresses (Simon Locations) made from Visma.net addresses."))
    highest_modified: HighestModified | None = Field(
        None, description="Newest lastModifiedDateTime seen in Visma.net per entity kind.")
    progress: MasterDataProgress | None = Field(None, description=(
        "Progress of a running first import, records done of the total Visma.net reports; "
        "absent when no first import is running."))


class EntityCounts(_StatusModel):
    customers: Count | None = Field(None, description="Customers removed.")
    items: Count | None = Field(None, description="Items removed.")
    work_addresses: Count | None = Field(None, description="Work addresses removed.")


class CleanupStatus(_StatusModel):
    last_success_time: datetime | None = Field(
        None, description="When the last cleanup finished successfully.")
    next_run_time: datetime | None = Field(None, description=(
        "When the next cleanup is due (lastSuccessTime + spec.schedule.cleanup)."))
    removed: EntityCounts | None = Field(
        None, description="Records removed from Simon by the last cleanup.")


class OrdersStatus(_StatusModel):
    last_success_time: datetime | None = Field(
        None, description="When the last push pass finished successfully.")
    sent: Count | None = Field(None, description="Work orders sent to Visma.net as a document.")
    failed: Count | None = Field(None, description=(
        "Work orders that failed with an error a user can fix; see the integration log."))
    waiting: Count | None = Field(None, description=(
        "Archived work orders waiting to be sent (e.g. until the settings check passes)."))
    passed_over: Count | None = Field(None, description=(
        "Work orders archived before the first activation and therefore not sent."))


class ImportsStatus(_StatusModel):
    last_success_time: datetime | None = Field(
        None, description="When the last import pass finished successfully.")
    imported: Count | None = Field(None, description="Orders imported as Simon work orders.")


class ActivationStatus(_StatusModel):
    activated_at: datetime | None = Field(None, description=(
        "When the current activation began; work orders archived before the first one are not "
        "sent."))
    event: Literal["first", "reactivation"] | None = Field(None, description=(
        "first: this Simon licence and Visma.net company were set up together for the first "
        "time (wipeOnFirstActivation applied); reactivation: enabled again, or a resource "
        "created again for a pair set up before (only wipeOnReactivation applied)."))
    wiped: list[Annotated[WipeKind, Field(description="A kind of Simon record.")]] | None = (
        Field(None, description="Kinds emptied in Simon for the current activation."))


class RecentError(_StatusModel):
    """One of the latest errors of the integration log (S-80)."""

    time: datetime = Field(description="When it happened.")
    table: str | None = Field(
        None, description="The kind of record (work order, customer, work address, item).")
    key: str | None = Field(None, description=(
        "The record key users see (work order, customer or item number)."))
    message: str = Field(description="What went wrong.")
    action: str | None = Field(None, description="What to do about it.")


class VismaIntegrationStatus(_StatusModel):
    """`status` of a VismaIntegration (S-81). Every field is optional.

    `error_count` mirrors `len(recent_errors)` for the Errors printer column (a JSONPath
    cannot count a list); it is kept in step whenever `recent_errors` is set.
    """

    # kopf keeps its own bookkeeping in `status` too: the API server must not prune it.
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    observed_generation: Count | None = Field(
        None, description="The metadata.generation of the spec the operator last acted on.")
    company_id: str | None = Field(None, description=(
        "The Visma.net administration (company) the operator works in, from "
        "spec.visma.companyId or learnt during the settings check."))
    conditions: list[
        Annotated[Condition, Field(description="A metav1.Condition.")]
    ] | None = Field(None, description=(
        "Standard conditions: Active (spec.enabled and activation done), SettingsValid (the "
        "settings check against Visma.net passed), Synced (the last pass of every loop "
        "completed) and Ready (all of these)."), json_schema_extra={
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    master_data: MasterDataStatus | None = Field(
        None, description="Progress of the Visma.net -> Simon master-data loop.")
    cleanup: CleanupStatus | None = Field(None, description=(
        "Progress of the cleanup loop that removes from Simon what is gone from Visma.net."))
    orders: OrdersStatus | None = Field(
        None, description="Progress of the archived work order -> Visma.net loop.")
    imports: ImportsStatus | None = Field(
        None, description="Progress of the Visma.net sales order / quote import.")
    activation: ActivationStatus | None = Field(None, description="The current activation.")
    served_by: str | None = Field(None, description=(
        "The operator replica (pod) serving this tenant; with several replicas each tenant is "
        "served by one of them, and it moves when replicas come and go."))
    recent_errors: list[
        Annotated[RecentError, Field(description="One integration log error.")]
    ] | None = Field(None, max_length=RECENT_ERRORS_LIMIT, description=(
        "The latest errors of the integration log, at most 10, newest last."))
    error_count: Count | None = Field(None, description=(
        "Number of entries in recentErrors (for the Errors printer column)."))
    last_run_request: str | None = Field(None, description=(
        "The last value of the annotation simon-visma.io/run-requested-at that the operator "
        "handled: every loop of the tenant completed a pass after it was set (or none could "
        "run, while spec.enabled is false or the settings cannot be used). Set the annotation "
        "to a new value, e.g. the current time, to run every loop now."))

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



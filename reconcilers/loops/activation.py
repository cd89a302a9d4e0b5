"""The settings check and the activation wipe (SPEC S-71, S-72).

`check_settings` asks Visma.net whether the tenant's settings can work: a token is granted and
the company answers, every configured item exists and is non-stock, every warehouse exists.
Its problems are sentences a user can act on.

`wipe` empties the chosen kinds in Simon once per activation so that everything comes from
Visma.net; the store records it, so a restart never wipes again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from reconcilers.clients.http import (
    ApiError,
    AuthError,
    ConflictError,
    RequestRejectedError,
    UnreadableRecordError,
)
from reconcilers.clients.simon.client import InUseError, SimonClient
from reconcilers.clients.simon.models import Customer as SimonCustomer
from reconcilers.clients.simon.models import Item as SimonItem
from reconcilers.clients.simon.models import KeyPair, SimonRecord
from reconcilers.clients.simon.models import Location as SimonLocation
from reconcilers.clients.visma.client import VismaClient
from reconcilers.loops.problems import known_as, log_key
from reconcilers.mirroring import MIRRORED_ITEM_STATUSES
from reconcilers.resource.spec import DocumentType, VismaIntegrationSpec, WipeKind
from reconcilers.store import LinkKind, LogTable, TenantState

log = logging.getLogger(__name__)


@dataclass
class SettingsCheck:
    company_reachable: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.company_reachable and not self.problems

    @property
    def message(self) -> str:
        return "; ".join(self.problems) if self.problems else "Settings are valid."


async def check_settings(spec: VismaIntegrationSpec, visma: VismaClient) -> SettingsCheck:
    """S-71: the company is reachable, the configured items and warehouses exist."""
    check = SettingsCheck()
    try:
        await visma.sales_order_types()
    except AuthError as error:
        check.problems.append(
            f"Visma.net refused the credentials for company tenant {spec.visma.tenant_id} "
            f"({error.message}); check the clientId and clientSecret in Secret "
            f"{spec.visma.credentials_secret_ref.name} (spec.visma.credentialsSecretRef) and "
            "that spec.visma.tenantId is the company's tenant id")
        return check
    except ApiError as error:
        check.problems.append(f"Visma.net is not reachable: {error}")
        return check
    check.company_reachable = True

    orders = spec.orders
    for setting, number in (("workTimeItem", orders.work_time_item),
                            ("travelTimeItem", orders.travel_time_item),
                            ("fixedItem", orders.fixed_item)):
        if not number:
            continue
        item = await visma.item(number)
        if item is None:
            check.problems.append(
                f"item {number} (spec.orders.{setting}) does not exist in Visma.net")
        elif item.stock_item:
            check.problems.append(
                f"item {number} (spec.orders.{setting}) is a stock item; choose a non-stock "
                "item such as a service or labour item")
        elif item.status not in MIRRORED_ITEM_STATUSES:
            check.problems.append(
                f"item {number} (spec.orders.{setting}) has status {item.status} in Visma.net; "
                "make it active")

    if orders.document_type == DocumentType.SALES_ORDER:
        warehouses = [("spec.orders.defaultWarehouse", orders.default_warehouse)]
        warehouses += [(f"spec.orders.warehouseByUser[{user}]", wh)
                       for user, wh in (orders.warehouse_by_user or {}).items()]
        for setting, warehouse_id in warehouses:
            if warehouse_id and await visma.warehouse(warehouse_id) is None:
                check.problems.append(
                    f"warehouse {warehouse_id} ({setting}) does not exist in Visma.net")
    return check


@dataclass
class WipeResult:
    removed: dict[str, int] = field(default_factory=dict)
    kept_in_use: int = 0


async def wipe(kinds: list[str], simon: SimonClient, state: TenantState) -> WipeResult:
    """S-72: empty the given kinds in Simon; work addresses before the customers owning them."""
    result = WipeResult()
    wanted = {WipeKind(k) for k in kinds}
    if WipeKind.CUSTOMERS in wanted or WipeKind.WORK_ADDRESSES in wanted:
        # Simon refuses to delete a customer that still owns Locations: those go first.
        result.removed["WorkAddresses"] = await _delete_all(
            simon, state, SimonLocation, LinkKind.LOCATION, LogTable.WORK_ADDRESS, result)
    if WipeKind.CUSTOMERS in wanted:
        result.removed["Customers"] = await _delete_all(
            simon, state, SimonCustomer, LinkKind.CUSTOMER, LogTable.CUSTOMER, result)
    if WipeKind.ITEMS in wanted:
        result.removed["Items"] = await _delete_all(
            simon, state, SimonItem, LinkKind.ITEM, LogTable.ITEM, result)
    # What was wiped must come back in full: the next master-data pass of the Visma.net kind
    # feeding it reads everything again instead of only what changed since its mark.
    for visma_kind, fed in (("customers", {WipeKind.CUSTOMERS, WipeKind.WORK_ADDRESSES}),
                            ("items", {WipeKind.ITEMS})):
        if wanted & fed:
            await state.marks.clear(visma_kind)
            await state.first_imports.reset(visma_kind)
    await state.activation.record_wipe([k.value for k in wanted])
    await state.log.info(
        LogTable.CUSTOMER if WipeKind.CUSTOMERS in wanted else LogTable.ITEM, "",
        "Activation wipe: removed from Simon " + (", ".join(
            f"{n} {kind}" for kind, n in result.removed.items()) or "nothing") + ".")
    return result


async def _delete_all(simon: SimonClient, state: TenantState, model: type[SimonRecord],
                      link: LinkKind, table: LogTable, result: WipeResult) -> int:
    pairs = [pair async for pair in simon.keys(model)]
    removed = 0
    for pair in pairs:
        try:
            await simon.delete(model, pair.id, missing_ok=True)
        except InUseError:
            result.kept_in_use += 1
            key, known = await known_in_simon(simon, model, pair)
            await state.log.warning(
                table, key,
                f"The activation wipe did not remove {known}: an open work order uses it.",
                "None: the sync updates it from Visma.net, or the cleanup removes it later.",
                dedupe=True)
            continue
        removed += 1
    await state.links.clear(link)
    return removed


_NOUNS = {SimonCustomer: "customer", SimonItem: "item", SimonLocation: "work address"}


async def known_in_simon(simon: SimonClient, model: type[SimonRecord], pair: KeyPair
                         ) -> tuple[str, str]:
    """A Simon record the way users know it, as (log key, label): a customer by number and
    name, an item by code and description, a work address by name; read from Simon, and
    when that fails by its ExtKey, else "a record without number". Never a bare Simon Id."""
    noun = _NOUNS.get(model, "record")
    try:
        record = await simon.find(model, pair.id)
    except (UnreadableRecordError, RequestRejectedError, ConflictError, ValueError) as error:
        log.info("simon %s %s could not be read for its name: %s", model.table, pair.id, error)
        record = None
    number: str | None = None
    name: str | None = None
    if isinstance(record, SimonCustomer):
        number, name = record.number, record.name
    elif isinstance(record, SimonItem):
        number, name = record.code, record.description
    elif isinstance(record, SimonLocation):
        name = record.name
    return (log_key(number, name, pair.ext_key),
            known_as(number, name, noun=noun, fallback=pair.ext_key))

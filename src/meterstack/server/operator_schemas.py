"""The answers of the operator API (``/v1``), typed for OpenAPI.

Shapes the command line prints too (invoices, usage reports, key listings) are made once by
:mod:`meterstack.answers`, and these models state and check them; money is a decimal string and
``null`` limits mean unlimited (D15).
"""

from __future__ import annotations

from pydantic import BaseModel

from meterstack.answers import api_key_json, invoice_json, usage_json
from meterstack.records.invoicing import Invoice
from meterstack.server.errors import ErrorBody
from meterstack.server.schemas import DecisionOut, InvoiceOut
from meterstack.services.keys import ApiKey
from meterstack.services.usage import UsageReport


class AccountCreatedOut(BaseModel):
    id: str
    plan: str
    billing_interval: str
    #: The account's first user API key, shown this once.
    user_api_key: str


class AccountOut(BaseModel):
    id: str
    plan: str
    billing_interval: str
    status: str
    catalog: str
    catalog_version: int
    anonymous: bool
    email: str | None
    created_at: str
    current_period_start: str
    current_period_end: str
    pending_plan: str | None
    #: What an upgrade left in the customer's favour (D10).
    account_credit: str


class BatchDecisionOut(BaseModel):
    decision: DecisionOut


class BatchErrorOut(BaseModel):
    #: The error this event alone met; the other events are decided as if it were not there.
    error: ErrorBody


class BatchOut(BaseModel):
    #: One result per event, in order.
    results: list[BatchDecisionOut | BatchErrorOut]


class UsageItemOut(BaseModel):
    kind: str
    used: int
    held: int
    #: null = unlimited.
    limit: int | None
    hard_limit: int | None
    remaining: int | None
    #: A decimal string; null when unlimited.
    percent: str | None
    is_near_limit: bool
    overage_units: int
    overage_enabled: bool


class UsageOut(BaseModel):
    account_id: str
    plan: str
    period: str
    period_start: str
    period_end: str
    project_id: str | None
    pending_plan: str | None
    items: dict[str, UsageItemOut]

    @classmethod
    def of(cls, report: UsageReport) -> UsageOut:
        return cls.model_validate(usage_json(report))


class ReservationOut(BaseModel):
    reservation_id: str
    expires_at: str | None
    decision: DecisionOut


class ReleasedOut(BaseModel):
    reservation_id: str
    status: str


class ProjectOut(BaseModel):
    id: str
    active: bool
    created_at: str


class ResourceOut(BaseModel):
    id: str
    kind: str
    created_at: str


class ListedResourceOut(ResourceOut):
    project_id: str | None
    name: str | None
    active: bool
    #: Beyond the plan's limit after a downgrade: writes are refused (D13).
    read_only: bool


class ResourcesOut(BaseModel):
    resources: list[ListedResourceOut]


class EndUserOut(BaseModel):
    id: str
    name: str | None


class LeaseOut(BaseModel):
    lease_id: str
    expires_at: str | None
    decision: DecisionOut


class LeaseReleasedOut(BaseModel):
    lease_id: str
    status: str


class SuccessOut(BaseModel):
    success: bool


class KeyCreatedOut(BaseModel):
    id: str
    #: The key's text, shown this once.
    key: str
    prefix: str


class OperatorKeyOut(BaseModel):
    """A key as listed: everything but its text."""

    id: str
    prefix: str
    kind: str
    project_id: str | None
    name: str | None
    #: The modules its service caps allow; null = every module (A8).
    modules: list[str] | None
    quotas: dict[str, int]
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKey) -> OperatorKeyOut:
        return cls.model_validate(api_key_json(key))


class OperatorKeysOut(BaseModel):
    keys: list[OperatorKeyOut]


class OperatorInvoiceOut(InvoiceOut):
    account_id: str
    catalog: str

    @classmethod
    def of(cls, invoice: Invoice) -> OperatorInvoiceOut:
        return cls.model_validate(invoice_json(invoice))


class OperatorInvoicesOut(BaseModel):
    invoices: list[OperatorInvoiceOut]


class PlanChangedOut(BaseModel):
    #: An upgrade takes effect at once; a downgrade waits for the period's end (C7).
    immediate: bool
    plan: str
    pending_plan: str | None
    #: The settlement of an immediate change, if it cost or credited anything (D10).
    invoice: OperatorInvoiceOut | None


class CancelledOut(BaseModel):
    status: str
    effective_at: str


class PackBoughtOut(BaseModel):
    pack: str
    #: The item's limit with the pack; null = unlimited.
    new_limit: int | None
    invoice: OperatorInvoiceOut


class CloseFailureOut(BaseModel):
    """An account the close could not rate: left unclosed from ``period`` on, with why."""

    account_id: str
    period: str
    reason: str


class ClosedOut(BaseModel):
    created: int
    invoices: list[str | None]
    failures: list[CloseFailureOut]


class ClockOut(BaseModel):
    now: str

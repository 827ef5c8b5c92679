"""The Python SDK of meterstack's HTTP service: :class:`Client`, and :class:`AsyncClient` for async.

::

    from meterstack.client import Client, QuotaExceededError

    operator = Client("https://billing.example.com", "<operator key>")
    account = operator.create_account("free")
    try:
        decision = operator.consume(account.id, "sessions")
    except QuotaExceededError as error:
        print(error.details["current_usage"], error.details["limit"])

    customer = Client("https://billing.example.com", account.user_api_key)
    usage = customer.get_usage()
    print(usage.sessions_used, usage.sessions_limit, usage.usage_percentage)
"""

from meterstack.client._async import AsyncClient
from meterstack.client._sync import Client
from meterstack.client.alert_models import Alert, Budget
from meterstack.client.audit import AuditActor, AuditLogPage, AuditRecord
from meterstack.client.billing import (
    ApiKeyInfo,
    Cancellation,
    CheckoutLink,
    CustomerInvoice,
    IssuedApiKey,
    OverageSwitch,
    PackBought,
    SubscriptionChange,
)
from meterstack.client.entitlements import Entitlements, FeatureGrant, ItemLimit
from meterstack.client.errors import (
    AuthenticationError,
    BudgetExceededError,
    ConflictError,
    InsufficientBalanceError,
    InvalidRequestError,
    MeterstackClientError,
    ModuleNotAllowedError,
    NotAllowedError,
    NotFoundError,
    PlanNotSelfServeError,
    PriceChangedError,
    QuotaExceededError,
    ServiceUnavailableError,
    UpgradeRequiredError,
    WalletSuspendedError,
)
from meterstack.client.models import (
    Account,
    AccountUsage,
    BillingStatus,
    ItemUsage,
    MeterUsage,
    PaymentWarning,
    PlanOffer,
    PlanPrice,
    ReleasedReservation,
    Reservation,
    ResourceCount,
    TierInfo,
    Usage,
)
from meterstack.client.wallet_models import (
    AutoReload,
    DepositLink,
    WalletBalance,
    WalletCharge,
    WalletEntry,
    WalletPage,
)
from meterstack.rules.decisions import Decision

__all__ = [
    "Account",
    "AccountUsage",
    "Alert",
    "ApiKeyInfo",
    "AsyncClient",
    "AuditActor",
    "AuditLogPage",
    "AuditRecord",
    "AuthenticationError",
    "AutoReload",
    "BillingStatus",
    "Budget",
    "BudgetExceededError",
    "Cancellation",
    "CheckoutLink",
    "Client",
    "ConflictError",
    "CustomerInvoice",
    "Decision",
    "DepositLink",
    "Entitlements",
    "FeatureGrant",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "IssuedApiKey",
    "ItemLimit",
    "ItemUsage",
    "MeterUsage",
    "MeterstackClientError",
    "ModuleNotAllowedError",
    "NotAllowedError",
    "NotFoundError",
    "OverageSwitch",
    "PackBought",
    "PaymentWarning",
    "PlanNotSelfServeError",
    "PlanOffer",
    "PlanPrice",
    "PriceChangedError",
    "QuotaExceededError",
    "ReleasedReservation",
    "Reservation",
    "ResourceCount",
    "ServiceUnavailableError",
    "SubscriptionChange",
    "TierInfo",
    "UpgradeRequiredError",
    "Usage",
    "WalletBalance",
    "WalletCharge",
    "WalletEntry",
    "WalletPage",
    "WalletSuspendedError",
]

"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Migrations in ``store/migrations`` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_catalog_versions_name_version"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("catalog_hash", String(64), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("billing_interval", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("period_anchor", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: Bumped by every change of plan, overrides, packs or switches (cache coherence).
    Column("version", Integer, nullable=False),
    Column("anonymous", Boolean, nullable=False),
    Column("email", String(320), nullable=True, unique=True),
    Column("name", String(200), nullable=True),
    Column("password_hash", Text, nullable=True),
)

resources = Table(
    "resources",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("project_id", String(40), nullable=True),
    Column("end_user_id", String(200), nullable=True),
    Column("name", String(200), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_resources_account_kind", "account_id", "kind", "created_at"),
)

#: One row per (account, item, scope, period): the O(1) aggregate every check reads (A11).
#: On SQLite the rows live in their primary key's b-tree (WITHOUT ROWID): one lookup per write.
counters = Table(
    "counters",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("item", String(64), primary_key=True),
    Column("scope", String(120), primary_key=True),
    #: ``YYYY-MM`` / ``YYYY-MM-DD`` for meters; ``""`` for resources and gauge levels.
    Column("period", String(16), primary_key=True),
    Column("used", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("overage", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

#: D7. Keyed by (account, key) only: a key is written once per request, so any other index costs
#: a page write on the hot path; the retention purge scans (``Engine.purge_idempotency_keys``).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("decision", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    sqlite_with_rowid=False,
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("item", String(64), nullable=False),
    Column("period", String(16), nullable=False),
    Column("project_id", String(40), nullable=True),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("committed_quantity", BigInteger, nullable=True),
    Index("ix_reservations_open", "account_id", "status", "expires_at"),
)

limit_overrides = Table(
    "limit_overrides",
    metadata,
    Column("account_id", String(40), primary_key=True),
    #: ``""`` for the whole account.
    Column("project_id", String(40), primary_key=True),
    Column("item", String(64), primary_key=True),
    Column("unlimited", Boolean, nullable=False),
    Column("limit_value", BigInteger, nullable=True),
    Column("grace_percent", String(16), nullable=True),
)

overage_switches = Table(
    "overage_switches",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("project_id", String(40), primary_key=True),
    #: ``*`` for every item.
    Column("item", String(64), primary_key=True),
    Column("enabled", Boolean, nullable=False),
)

account_packs = Table(
    "account_packs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("pack_id", String(64), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("source", String(32), nullable=False),
    Index("ix_account_packs_account", "account_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    #: None for a user API key (of the account); the project's id for a project API key.
    Column("project_id", String(40), nullable=True),
    #: ``user``, ``project`` or ``anonymous`` (the user key of an anonymous account).
    Column("kind", String(16), nullable=False),
    #: The non-secret part of the key text that finds its row.
    Column("lookup", String(32), nullable=False, unique=True),
    #: SHA-256 (hex) of the whole key text; the key itself is never stored.
    Column("secret_hash", String(64), nullable=False),
    Column("name", String(200), nullable=True),
    #: Service caps (A8): JSON list of the modules the key may use; None = every module.
    Column("modules", Text, nullable=True),
    #: Per-key quotas (A8): JSON object meter -> units per period; None = no quota.
    Column("quotas", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_keys_account", "account_id", "created_at"),
)

#: An operator's override of one feature for one account (D14): "true", "false" or a level.
feature_overrides = Table(
    "feature_overrides",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("feature", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
)

#: Invoices of record (D10): one per account and closed period, numbered gaplessly.
invoices = Table(
    "invoices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(40), nullable=True),
    Column("sequence", String(32), nullable=False),
    Column("account_id", String(40), nullable=False),
    #: ``period`` for a period close.
    Column("kind", String(16), nullable=False),
    Column("period_key", String(16), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("catalog", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    #: Decimal text: the sum of the lines.
    Column("total", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("number", name="uq_invoices_number"),
    #: Closing a period twice, or from two processes at once, creates one invoice.
    UniqueConstraint("account_id", "kind", "period_key", name="uq_invoices_account_period"),
    #: The collection runner looks for finalized invoices on every pass (D29).
    Index("ix_invoices_status", "status"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", String(40), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("item", String(64), nullable=True),
    Column("quantity", String(40), nullable=False),
    Column("unit_price", String(40), nullable=False),
    Column("amount", String(40), nullable=False),
    #: JSON: how the amount came about.
    Column("derivation", Text, nullable=False),
)

#: The next number of each invoice sequence; taken in the invoice's own transaction (gapless).
invoice_sequences = Table(
    "invoice_sequences",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_number", BigInteger, nullable=False),
)

#: An operator's prices for one account (D14): ``fee``, ``overage:<item>`` or ``usage:<item>``
#: -> the price as JSON (a plan price, an overage offer, or a charge model).
price_overrides = Table(
    "price_overrides",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("target", String(80), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Every plan an account has had, from when (invoices rate a period on the plan it had).
plan_history = Table(
    "plan_history",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("started_at", DateTime(timezone=True), primary_key=True),
    #: Orders several changes at the same instant.
    Column("seq", Integer, primary_key=True),
    Column("plan_id", String(64), nullable=False),
    Column("billing_interval", String(16), nullable=False),
    Column("catalog_hash", String(64), nullable=False),
)

#: A downgrade or cancellation waiting for the period's end (B9, C7).
pending_changes = Table(
    "pending_changes",
    metadata,
    Column("account_id", String(40), primary_key=True),
    #: ``downgrade`` or ``cancel``.
    Column("kind", String(16), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("billing_interval", String(16), nullable=False),
    Column("effective_at", DateTime(timezone=True), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
)

#: Hosted checkouts (the local provider keeps them here): an upgrade or a pack, paid or not.
checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    #: ``plan`` or ``pack``.
    Column("purpose", String(16), nullable=False),
    Column("plan_id", String(64), nullable=True),
    Column("billing_interval", String(16), nullable=True),
    Column("pack_id", String(64), nullable=True),
    #: ``open``, ``paid``, ``failed`` (its payment did not go through) or ``cancelled``.
    Column("status", String(16), nullable=False),
    Column("success_url", Text, nullable=True),
    Column("cancel_url", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: The provider's own page for the checkout (Stripe's); null when the URL is computed.
    Column("provider_url", Text, nullable=True),
)

#: The payment provider's customer (Stripe's ``cus_…``) of each account, made on first need.
payment_customers = Table(
    "payment_customers",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("provider", String(16), primary_key=True),
    Column("customer_id", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: The account's email and name as the provider was last given them (receipts, portal).
    Column("email", String(320), nullable=True),
    Column("name", String(200), nullable=True),
)

#: Payment outcomes reported by a provider, each applied once (its id is the provider's).
payment_events = Table(
    "payment_events",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

#: The provider's payment that paid an invoice through a checkout (a plan's, a pack's): what a
#: refund of the invoice gives back and what a dispute of that payment names.
invoice_payments = Table(
    "invoice_payments",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("payment", String(120), nullable=False),
    Column("checkout_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_invoice_payments_payment", "payment"),
)

#: Invoices a checkout paid that the provider must still list as paid (Stripe's portal): written
#: with the payment, cleared once the provider has the mirror, retried while it fails.
invoice_mirrors = Table(
    "invoice_mirrors",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    #: ``pending`` until the provider has it, then ``mirrored``.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("failure", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("mirrored_at", DateTime(timezone=True), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Index("ix_invoice_mirrors_status", "status", "created_at"),
)

#: Disputes of payments (a deposit, a reload, an invoice's), recorded when opened and closed.
payment_disputes = Table(
    "payment_disputes",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("account_id", String(40), nullable=False),
    #: ``deposit``, ``reload`` or ``invoice``; ``reference`` is its checkout, reload or number.
    Column("source", String(16), nullable=False),
    Column("reference", String(120), nullable=False),
    Column("payment", String(120), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    #: ``open``, ``won`` or ``lost``.
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Index("ix_payment_disputes_account", "account_id", "opened_at"),
)

#: Single-use dashboard sign-in links (10 minutes), found by the SHA-256 of their token.
signin_links = Table(
    "signin_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    #: Set once, by the one request that redeemed the link.
    Column("used_at", DateTime(timezone=True), nullable=True),
)

#: Browser sessions of the dashboard and the operator console, by the SHA-256 of the cookie.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    #: ``customer`` or ``operator``.
    Column("kind", String(16), nullable=False),
    #: The customer's account; None for an operator session.
    Column("account_id", String(40), nullable=True),
    #: The synchronizer token every form of the session carries.
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    #: The account's revoked user keys at sign-in: one more revocation ends the session.
    Column("revoked_keys", Integer, nullable=False),
    #: SHA-256 of the operator key an operator session signed in with.
    Column("operator_fingerprint", String(64), nullable=True),
    #: A one-time notice shown on the next page.
    Column("flash", Text, nullable=True),
    Index("ix_web_sessions_account", "account_id"),
)

#: Sign-in attempts per subject (``account:…``, ``address:…``) in a fixed window.
signin_attempts = Table(
    "signin_attempts",
    metadata,
    Column("subject", String(120), primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
)

#: Periods closed without an invoice: a yearly plan's months with nothing to charge (B12).
period_closes = Table(
    "period_closes",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("period_key", String(16), primary_key=True),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
)

#: Accounts the last period close could not rate, with the period and why (one row each).
close_failures = Table(
    "close_failures",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("period_key", String(16), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)


#: Outgoing webhooks (D28): where events go, signed with each endpoint's own secrets.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    #: ``operator`` or ``customer``.
    Column("owner", String(16), nullable=False),
    #: The account whose events it receives; null = every account's (operator endpoints).
    Column("account_id", String(40), nullable=True),
    Column("url", Text, nullable=False),
    #: JSON array of event types; empty = every type.
    Column("event_types", Text, nullable=False),
    Column("description", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_endpoints_account", "account_id"),
)

#: An endpoint's signing secrets: the current one (no expiry) and rotated-out ones until expiry.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("secret", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)

#: The outbox: events written in the transaction that caused them, with the body sent.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    #: Whether its deliveries (one per receiving endpoint) were created.
    Column("fanned_out", Boolean, nullable=False),
    Index("ix_webhook_events_fan_out", "fanned_out", "occurred_at"),
    Index("ix_webhook_events_account", "account_id", "occurred_at"),
)

#: One event on its way to one endpoint; leased by one worker at a time for one attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    #: ``pending``, ``succeeded`` or ``failed``.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    #: The attempts made before the last replay (the retry schedule counts from there).
    Column("replayed_after", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(120), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
)

#: Every HTTP request of a delivery, as it went.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_excerpt", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("succeeded", Boolean, nullable=False),
    Column("worker", String(120), nullable=False),
)

#: Usage history (D27): admitted units per account, meter, project and UTC hour, written by
#: the admission that counted them. A day is the sum of its hours and the account's aggregate
#: the sum over its projects (``""`` = no project): one row written per admission.
usage_buckets = Table(
    "usage_buckets",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("meter", String(64), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("project_id", String(40), primary_key=True),
    Column("used", BigInteger, nullable=False),
    #: The part of ``used`` run on the customer's own model key.
    Column("byok", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

#: One row per admitted transaction of a meter priced by ``percentage``: its amount, in
#: millionths of the catalog's currency, rated at period close in the order admitted.
usage_transactions = Table(
    "usage_transactions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(40), nullable=False),
    Column("meter", String(64), nullable=False),
    Column("period", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_usage_transactions_period", "account_id", "meter", "period", "id"),
)

#: The wallet's ledger (D20): every movement of money, immutable, amounts in millionths (D17).
#: ``seq`` orders an account's history newest first; (kind, reference) makes a settlement (a
#: checkout credited, a reload paid, a charge refunded, a payout) happen once.
wallet_entries = Table(
    "wallet_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("account_id", String(40), nullable=False),
    #: ``wallet``, ``earnings`` (a creator's) or ``platform``.
    Column("book", String(16), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("operation", String(64), nullable=True),
    Column("quantity", BigInteger, nullable=False),
    Column("byok", Boolean, nullable=False),
    Column("project_id", String(40), nullable=True),
    Column("item_id", String(40), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("reference", String(120), nullable=True),
    Column("memo", Text, nullable=True),
    Column("payout_id", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "reference", name="uq_wallet_entries_kind_reference"),
    Index("ix_wallet_entries_account", "account_id", "book", "seq"),
)

#: A customer's auto-reload settings (D21), amounts in millionths.
wallet_settings = Table(
    "wallet_settings",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("threshold", BigInteger, nullable=True),
    Column("reload_amount", BigInteger, nullable=True),
    Column("target_balance", BigInteger, nullable=True),
    #: What a lost dispute took beyond the balance: owed until a deposit or an adjustment
    #: settles it; wallet charges are refused meanwhile.
    Column("owed", BigInteger, nullable=False, server_default="0"),
)

#: Auto-reloads, one per crossing (D21); the id is derived from the crossing.
wallet_reloads = Table(
    "wallet_reloads",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    #: ``pending``, ``paid`` or ``failed``.
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Index("ix_wallet_reloads_account", "account_id", "created_at"),
)

#: Deposits through a hosted checkout (D24): the checkout's amount, credited once when paid.
wallet_deposits = Table(
    "wallet_deposits",
    metadata,
    Column("checkout_id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: The provider's id of the payment that paid it (a refund or a dispute names it).
    Column("payment", String(120), nullable=True),
)

#: Marketplace items (D23): a creator account's priced operation, price in millionths.
marketplace_items = Table(
    "marketplace_items",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("creator_id", String(40), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_marketplace_items_creator", "creator_id", "created_at"),
)

#: Payout runs' payments to creators (D23): recorded before the provider is asked, settled after.
wallet_payouts = Table(
    "wallet_payouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("creator_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    #: ``pending`` until the provider has paid it, then ``paid``.
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    #: How many times the provider was asked; a run holds the payout until ``claimed_until``.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Index("ix_wallet_payouts_status", "status", "created_at"),
)

#: Creators' accounts with the provider (Connect), and whether they can be paid yet.
creator_accounts = Table(
    "creator_accounts",
    metadata,
    Column("creator_id", String(40), primary_key=True),
    Column("provider_account", String(120), nullable=False),
    Column("payouts_enabled", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("provider_account", name="uq_creator_accounts_provider_account"),
)

#: Money given back through the provider: a deposit's refund, an invoice's credit note.
#: Recorded before the provider is asked; ``attempts`` and ``claimed_until`` as for payouts.
money_refunds = Table(
    "money_refunds",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("account_id", String(40), nullable=False),
    #: ``deposit`` (reference: the deposit's ledger entry) or ``invoice`` (its number).
    Column("source", String(16), nullable=False),
    Column("reference", String(120), nullable=False),
    #: The provider's id of the payment refunded (a checkout, an invoice).
    Column("payment", String(120), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=True),
    #: ``pending`` until the provider has refunded it, then ``refunded``.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("failure", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Index("ix_money_refunds_reference", "source", "reference"),
    Index("ix_money_refunds_status", "status", "created_at"),
)

#: One collection per finalized invoice with an amount due (D10, D29): where dunning stands, and
#: the lease a runner holds while it makes an attempt.
invoice_collections = Table(
    "invoice_collections",
    metadata,
    Column("invoice_number", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    #: ``due``, ``past_due``, ``fallback``, ``paid`` or ``closed``.
    Column("status", String(16), nullable=False),
    #: Decimal text: the invoice's total.
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("first_failed_at", DateTime(timezone=True), nullable=True),
    Column("last_reason", Text, nullable=True),
    Column("fallback_at", DateTime(timezone=True), nullable=True),
    #: The plan and interval paying the invoice restores, after a fallback.
    Column("restore_plan", String(64), nullable=True),
    Column("restore_interval", String(16), nullable=True),
    Column("lease_owner", String(120), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Index("ix_invoice_collections_due", "status", "next_attempt_at"),
    Index("ix_invoice_collections_account", "account_id", "created_at"),
)

#: Every attempt to collect an invoice, keyed by the invoice and the attempt number; ``key`` is
#: the idempotency key the provider was given (D29).
collection_attempts = Table(
    "collection_attempts",
    metadata,
    Column("invoice_number", String(40), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("key", String(80), nullable=False),
    #: ``pending``, ``paid`` or ``failed``.
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Column("worker", String(120), nullable=False),
    UniqueConstraint("key", name="uq_collection_attempts_key"),
)

#: The audit log: one entry per billing change, written in the change's own transaction and
#: never updated. ``seq`` is the order they were written in (pages are read newest first by it).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    #: NULL for a change of no account (an operator-wide webhook endpoint, a payout run).
    Column("account_id", String(40), nullable=True),
    #: ``plan.changed``, ``limit.set``… (docs/audit.md).
    Column("kind", String(64), nullable=False),
    #: ``operator``, ``customer``, ``dashboard``, ``system`` or ``python``.
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    #: The changed part before and after, as JSON objects (NULL when it did not exist).
    Column("state_before", Text, nullable=True),
    Column("state_after", Text, nullable=True),
    Index("ix_audit_log_account", "account_id", "seq"),
    Index("ix_audit_log_kind", "kind", "seq"),
)

#: Alerts set by a customer or an operator (D25); a threshold is a decimal string.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("meter", String(64), nullable=True),
    Column("threshold", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_alerts_account", "account_id", "created_at"),
)

#: Each alert's last firing (D25): open until resolved, fired again only after that.
alert_states = Table(
    "alert_states",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("alert_id", String(80), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("meter", String(64), nullable=True),
    Column("threshold", String(40), nullable=True),
    #: The period the condition held in; empty for conditions of no period (a balance).
    Column("period", String(16), nullable=False),
    Column("value", String(40), nullable=True),
    Column("triggered_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("reason", String(24), nullable=True),
)

#: A customer's maximum monthly cost (D26), in millionths; ``soft`` or ``hard``.
budgets = Table(
    "budgets",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

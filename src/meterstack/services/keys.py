"""API keys (user, project, anonymous), service caps (A8) and anonymous accounts (A7).

A key's text is ``<prefix>_<lookup>_<secret>``: ``ask_`` for a user key, ``apk_`` for a project
key, ``anon_ask_`` for the user key of an anonymous account. The lookup is a non-secret id that
finds the key's row; the secret is 256 bits from :mod:`secrets`. The store keeps only the SHA-256
of the whole text: a fast hash is enough for a secret with that much entropy (nobody can guess
its way to a match, unlike a password), and it lets every request be checked in microseconds.
Hashes are compared in constant time. Passwords, which people choose, are hashed with argon2.

Creating a key counts it against the catalog's ``user_api_keys`` or ``api_keys`` resource (when
the catalog declares it) in the same transaction as the insert (A10); revoking frees the slot.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from meterstack.bounds import check_range
from meterstack.catalog.schema import Catalog
from meterstack.errors import (
    AuthenticationError,
    ConflictError,
    EmailTakenError,
    InvalidInputError,
    NotAllowedForTierError,
    NotFoundError,
    RateLimitedError,
    UpgradeRequiredError,
)
from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.admission import key_scope
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.features import decide_feature
from meterstack.rules.terms import AccountState
from meterstack.services.accounts import Account, account_of
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.registration import (
    check_password,
    checked_email,
    checked_name,
    hash_password,
)
from meterstack.services.resources import admit_resource, release_resource
from meterstack.services.validation import validate_meter, validate_project
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import AccountRow, ApiKeyRow, ResourceRow

USER_KEY = "user"
PROJECT_KEY = "project"
#: Anonymous sign-ups (D19) are counted per client address in windows of an hour, in the
#: store's table of attempt windows under subjects of their own.
SIGNUP_SUBJECT = "signup:"
SIGNUP_WINDOW = timedelta(hours=1)
#: The user key of an anonymous account (A7).
ANONYMOUS_KEY = "anonymous"
#: The kinds of key that act for the account's owner rather than for one project.
USER_KINDS = frozenset({USER_KEY, ANONYMOUS_KEY})
#: The readable beginning of each kind's key text.
KEY_PREFIXES = {USER_KEY: "ask", PROJECT_KEY: "apk", ANONYMOUS_KEY: "anon_ask"}
#: The resource each kind of key is counted against, when the catalog declares it (A10).
KEY_RESOURCES = {USER_KEY: "user_api_keys", PROJECT_KEY: "api_keys", ANONYMOUS_KEY: "user_api_keys"}

#: The sensitive modules a project key's caps may restrict (A8).
MODULES = ("payments", "scheduler", "analytics", "project_wallets", "data_access")
#: The catalog feature that grants service caps (STARTER and up on AgentStack).
SERVICE_CAPS_FEATURE = "service_caps"
#: The code of a refusal by a key's caps: 403, and its own code, so that a client can tell
#: "this key may not" from "this plan may not" (``not_allowed_for_tier``).


_LOOKUP_BYTES = 8
_SECRET_BYTES = 32
_KEY_TEXT = re.compile(
    rf"(ask|apk|anon_ask)_([0-9a-f]{{{2 * _LOOKUP_BYTES}}})_([0-9a-f]{{{2 * _SECRET_BYTES}}})"
)
#: Compared against when no key has the lookup, so that both refusals cost the same.
_NO_KEY_HASH = "0" * 64


@dataclass(frozen=True)
class ServiceCaps:
    """What a project key may do (A8): its modules (None = every module) and per-key quotas."""

    modules: tuple[str, ...] | None = None
    #: Units per period per meter for this key alone, on top of the account's limits.
    quotas: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    id: str
    account_id: str
    #: None for a user key.
    project_id: str | None
    #: ``user``, ``project`` or ``anonymous``.
    kind: str
    #: The non-secret beginning of the key text (``ask_3f9a…``), to show in listings.
    prefix: str
    #: None when the key carries no caps.
    caps: ServiceCaps | None
    created_at: datetime
    revoked_at: datetime | None
    name: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its text, which is shown this once and never stored."""

    api_key: ApiKey
    key: str = field(repr=False)

    @property
    def id(self) -> str:
        return self.api_key.id


class Keys:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ keys

    def create_api_key(
        self,
        account_id: str,
        *,
        project_id: str | None = None,
        name: str | None = None,
        modules: Iterable[str] | None = None,
        quotas: Mapping[str, int] | None = None,
        actor: Actor = PYTHON,
    ) -> IssuedKey:
        """A user key (no ``project_id``) or a project key, refused past the plan's limit (A10).

        ``modules`` and ``quotas`` are service caps (A8): project keys only, on a plan that
        grants the ``service_caps`` feature.
        """
        name = None if name is None else checked_name(name)
        caps = _caps(modules, quotas)
        if caps is not None and project_id is None:
            raise InvalidInputError(
                "service caps (modules, quotas) apply to project API keys only; pass project_id",
                account_id=account_id,
            )
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            validate_project(state, project_id)
            if project_id is not None:
                kind = PROJECT_KEY
            else:
                account = tx.accounts.get(account_id)
                kind = ANONYMOUS_KEY if account is not None and account.anonymous else USER_KEY
            if caps is not None:
                for meter in caps.quotas:
                    validate_meter(catalog, meter)
                _require_service_caps(catalog, state)
            issued = _issue(
                tx, catalog, state, kind, now, project_id=project_id, name=name, caps=caps
            )
            record(tx, now, actor, account_id, "key.created", after=issued.api_key)
            return issued

    def revoke_api_key(
        self,
        key_id: str,
        *,
        account_id: str | None = None,
        user_only: bool = False,
        actor: Actor = PYTHON,
    ) -> None:
        """Revoke a key at once and free its slot; revoking a revoked key changes nothing.

        With ``account_id``, a key of another account is not found (404), as if it did not exist;
        with ``user_only`` (the customer's own keys, A2), so is a project key.
        """
        with self.ctx.store.transaction() as tx:
            row = _existing(tx, key_id)
            foreign = account_id is not None and row.account_id != account_id
            if foreign or (user_only and row.kind not in USER_KINDS):
                raise NotFoundError(f"account {account_id} has no API key {key_id!r}", id=key_id)
            if tx.keys.revoke(key_id, self.ctx.now()):
                self._free_slot(tx, row.account_id, key_id)
                revoked = replace(row, revoked_at=self.ctx.now())
                record(
                    tx,
                    self.ctx.now(),
                    actor,
                    row.account_id,
                    "key.revoked",
                    before=_api_key(row),
                    after=_api_key(revoked),
                )

    def api_keys(
        self,
        account_id: str,
        *,
        project_id: str | None = None,
        revoked: bool = False,
        user_only: bool = False,
    ) -> list[ApiKey]:
        """The account's keys (never their text), oldest first (then by id); a project's only with
        ``project_id``; revoked ones too with ``revoked``; its user keys only with
        ``user_only``."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            if project_id is not None:
                validate_project(state, project_id)
            rows = tx.keys.of_account(account_id, revoked=revoked)
        return [
            _api_key(row)
            for row in rows
            if (project_id is None or row.project_id == project_id)
            and (not user_only or row.kind in USER_KINDS)
        ]

    def authenticate(self, key: str) -> ApiKey:
        """The live key whose text this is; anything else is 401 ``invalid_api_key``."""
        with self.ctx.store.transaction() as tx:
            return _api_key(_verify(tx, key))

    def require_module(
        self, key_id: str, module: str, *, account_id: str | None = None
    ) -> Decision:
        """Whether the key's caps let it use ``module`` (A8): allowed, or 403 refused.

        With ``account_id``, a key of another account is not found (404).
        """
        if module not in MODULES:
            raise InvalidInputError(
                f"unknown module {module!r}; modules: {', '.join(MODULES)}", module=str(module)
            )
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = _existing(tx, key_id)
        if account_id is not None and row.account_id != account_id:
            raise NotFoundError(f"account {account_id} has no API key {key_id!r}", id=key_id)
        if row.revoked_at is not None:
            raise AuthenticationError(f"API key {key_id} was revoked", key_id=key_id)
        allowed = row.modules is None or module in row.modules
        if allowed:
            message = f"{module}: allowed for API key {key_id}"
        else:
            permitted = ", ".join(row.modules or ()) or "none"
            message = (
                f"API key {key_id} may not use {module}; its service caps allow: {permitted}. "
                "Use another key or change the caps"
            )
        return Decision.unmetered(
            allowed=allowed,
            code=DecisionCode.OK if allowed else DecisionCode.MODULE_NOT_ALLOWED,
            http_status=200 if allowed else 403,
            subject=module,
            as_of=now,
            scope=key_scope(key_id),
            message=message,
            extra={
                "key_id": key_id,
                "module": module,
                "modules": None if row.modules is None else list(row.modules),
            },
        )

    # ------------------------------------------------------------------ anonymous accounts

    def create_anonymous_account(
        self, *, client: str | None = None, per_hour: int | None = None
    ) -> tuple[Account, IssuedKey]:
        """A new account on the catalog's default plan and its ``anon_ask_…`` key (A7, D19);
        with ``client`` and ``per_hour``, at most that many per client address in an hour."""
        if client is not None and (
            isinstance(per_hour, bool) or not isinstance(per_hour, int) or per_hour < 0
        ):
            raise InvalidInputError(
                f"per_hour must be a whole number of at least 0, got {per_hour!r}"
            )
        loaded = self.ctx.current
        catalog = loaded.catalog
        now = self.ctx.now()
        row = AccountRow(
            id=new_id("acct"),
            catalog_hash=loaded.content_hash,
            plan_id=catalog.default_plan,
            billing_interval=catalog.policies.intervals[0],
            status="active",
            period_anchor=now,
            created_at=now,
            version=1,
            anonymous=True,
            email=None,
            name=None,
        )
        with self.ctx.store.transaction() as tx:
            # Counted in the store, in the transaction that makes the account: one window per
            # client address, shared by every server and kept across restarts.
            if client is not None and not tx.access.admit_attempt(
                f"{SIGNUP_SUBJECT}{client}"[:120], now, now - SIGNUP_WINDOW, per_hour or 0
            ):
                raise RateLimitedError(
                    "too many anonymous accounts from this address; try later", client=client
                )
            tx.accounts.insert(row)
            state = self.ctx.state(tx, row.id)
            issued = _issue(tx, catalog, state, ANONYMOUS_KEY, now)
        return account_of(row, catalog), issued

    def convert_anonymous(
        self,
        user_api_key: str,
        *,
        name: str,
        email: str,
        password: str,
        actor: Actor | None = None,
    ) -> tuple[Account, IssuedKey]:
        """Register an anonymous account on the catalog's fallback plan (A7).

        The account keeps its id, usage, resources and data; its ``anon_ask_…`` key is revoked
        and a new ``ask_…`` key is returned.
        """
        name = checked_name(name)
        email = checked_email(email)
        check_password(password)
        key = self.authenticate(user_api_key)
        if key.kind != ANONYMOUS_KEY:
            raise InvalidInputError(
                "user_api_key must be the anon_ask_ key of an anonymous account; "
                "this account is already registered"
                if key.kind == USER_KEY
                else "user_api_key must be the anon_ask_ key of an anonymous account, "
                "not a project key",
                key_id=key.id,
            )
        # Slow on purpose; hashed before the transaction so that no lock waits for it.
        password_hash = hash_password(password)
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            account_id = key.account_id
            state = state_before = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if tx.accounts.email_taken(email):
                raise EmailTakenError(
                    f"an account with the email {email!r} already exists",
                    email=email,
                )
            if not tx.keys.revoke(key.id, now):
                raise AuthenticationError("invalid API key")  # revoked meanwhile
            self._free_slot(tx, account_id, key.id)
            registered = tx.accounts.register(
                account_id,
                plan_id=catalog.policies.fallback_plan,
                email=email,
                name=name,
                password_hash=password_hash,
            )
            if not registered:
                raise ConflictError(
                    f"account {account_id} is already registered", account_id=account_id
                )
            # The move to the fallback plan is a plan change like any other (A7).
            tx.subscriptions.record_plan(
                account_id,
                catalog.policies.fallback_plan,
                "monthly",
                state.catalog_hash,
                now,
            )
            self.ctx.changed(tx, account_id)
            state = self.ctx.state(tx, account_id)
            issued = _issue(tx, catalog, state, USER_KEY, now)
            row = tx.accounts.get(account_id)
            record(
                tx,
                now,
                actor or Actor.customer(key.id),
                account_id,
                "account.registered",
                before={"plan": state_before.plan_id, "anonymous": True, "key_id": key.id},
                after={
                    "plan": catalog.policies.fallback_plan,
                    "anonymous": False,
                    "email": email,
                    "key_id": issued.id,
                },
            )
        if row is None:  # pragma: no cover - the update above found it in this transaction
            raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
        return account_of(row, catalog), issued

    # ------------------------------------------------------------------ internals

    def _free_slot(self, tx: UnitOfWork, account_id: str, key_id: str) -> None:
        """Delete the key's resource row and uncount it, as deleting any resource does."""
        resource = tx.resources.get(key_id)
        if resource is None:
            return  # the catalog does not count this kind of key
        state = self.ctx.state(tx, account_id)
        release_resource(tx, self.ctx.catalog(tx, state.catalog_hash), resource)


def _issue(
    tx: UnitOfWork,
    catalog: Catalog,
    state: AccountState,
    kind: str,
    now: datetime,
    *,
    project_id: str | None = None,
    name: str | None = None,
    caps: ServiceCaps | None = None,
) -> IssuedKey:
    """Count, store and return a new key of ``kind``; its text exists only in the result."""
    key_id = new_id("key")
    lookup = secrets.token_hex(_LOOKUP_BYTES)
    text = f"{KEY_PREFIXES[kind]}_{lookup}_{secrets.token_hex(_SECRET_BYTES)}"
    resource = KEY_RESOURCES[kind]
    if resource in catalog.resources:
        admit_resource(tx, catalog, state, resource, now)
        tx.resources.insert(
            ResourceRow(
                key_id, state.account_id, resource, project_id, None, name, True, False, now
            )
        )
    row = ApiKeyRow(
        id=key_id,
        account_id=state.account_id,
        project_id=project_id,
        kind=kind,
        lookup=lookup,
        secret_hash=_hash(text),
        name=name,
        modules=None if caps is None else caps.modules,
        quotas=None if caps is None or not caps.quotas else dict(caps.quotas),
        created_at=now,
        revoked_at=None,
    )
    tx.keys.insert(row)
    return IssuedKey(_api_key(row), text)


def _verify(tx: UnitOfWork, key: Any) -> ApiKeyRow:
    """The live key row whose text ``key`` is; AuthenticationError otherwise."""
    match = _KEY_TEXT.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise AuthenticationError("invalid API key")
    row = tx.keys.by_lookup(match.group(2))
    stored = _NO_KEY_HASH if row is None else row.secret_hash
    # A revoked key is refused exactly as one never issued: the answer tells a caller holding
    # a leaked key nothing (not that it once worked, nor the key's id).
    if not hmac.compare_digest(_hash(key), stored) or row is None or row.revoked_at is not None:
        raise AuthenticationError("invalid API key")
    return row


def _existing(tx: UnitOfWork, key_id: str) -> ApiKeyRow:
    row = tx.keys.get(key_id) if isinstance(key_id, str) else None
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}", key_id=str(key_id))
    return row


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _api_key(row: ApiKeyRow) -> ApiKey:
    caps = None
    if row.modules is not None or row.quotas:
        caps = ServiceCaps(modules=row.modules, quotas=dict(row.quotas or {}))
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        project_id=row.project_id,
        kind=row.kind,
        prefix=f"{KEY_PREFIXES[row.kind]}_{row.lookup}",
        caps=caps,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        name=row.name,
    )


def _require_service_caps(catalog: Catalog, state: AccountState) -> None:
    """Caps need a plan granting ``service_caps`` when the catalog sells them as a feature."""
    if SERVICE_CAPS_FEATURE not in catalog.features:
        return
    verdict = decide_feature(catalog, state.plan_id, SERVICE_CAPS_FEATURE)
    if verdict.allowed:
        return
    error = UpgradeRequiredError if verdict.http_status == 402 else NotAllowedForTierError
    raise error(verdict.message, plan=state.plan_id, upgrade_to=verdict.upgrade_to)


def _caps(modules: Any, quotas: Any) -> ServiceCaps | None:
    """Checked caps, or None when neither modules nor quotas are given."""
    if modules is None and quotas is None:
        return None
    checked_modules: tuple[str, ...] | None = None
    if modules is not None:
        if isinstance(modules, str | bytes) or not isinstance(modules, Iterable):
            raise InvalidInputError(
                f"modules must be a list of module names, got {modules!r}"[:200]
            )
        names = list(modules)
        unknown = [name for name in names if name not in MODULES]
        if unknown:
            raise InvalidInputError(
                f"unknown module {unknown[0]!r}; modules: {', '.join(MODULES)}",
                module=str(unknown[0])[:64],
            )
        checked_modules = tuple(sorted(set(names)))
    checked_quotas: dict[str, int] = {}
    if quotas is not None:
        if not isinstance(quotas, Mapping):
            raise InvalidInputError(
                f'quotas must map meters to units per period, like {{"api_calls": 1000}}, '
                f"got {quotas!r}"[:200]
            )
        for meter, units in quotas.items():
            if not isinstance(meter, str):
                raise InvalidInputError(f"a quota's meter must be a name, got {meter!r}"[:200])
            if isinstance(units, bool) or not isinstance(units, int) or units < 0:
                raise InvalidInputError(
                    f"the quota of {meter!r} must be a whole number of at least 0, got {units!r}",
                    meter=meter,
                )
            check_range(f"the quota of {meter!r}", units, 0)
            checked_quotas[meter] = units
    return ServiceCaps(modules=checked_modules, quotas=checked_quotas)

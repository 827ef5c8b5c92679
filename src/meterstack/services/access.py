"""Who is looking at the dashboard: sign-in links, password sign-ins and browser sessions.

A browser never holds a credential the store could leak: a sign-in link's token and a session's
cookie are 256-bit random values, and the store keeps only their SHA-256 (as for API keys, a
fast hash is enough for a secret nobody can guess). A link is redeemed by one conditional UPDATE,
so two concurrent uses make one session. Every sign-in starts a new session and ends the one the
browser had (rotation: a session id planted before sign-in is worth nothing after it).

Password attempts are counted in the store, per account and per client address, each in a fixed
window, and counted *before* the (slow) password check, so parallel guesses cannot slip past the
bound. A success forgets the account's count; the address's count stays until its window ends.

A customer session ends when it is signed out, when it expires, or when one of the account's user
API keys is revoked after it began (from any door): the session remembers how many of the
account's user keys were revoked when it started, and any later revocation ends it. Revoking a
key is what a customer does when a credential leaked; every browser signed in before then has to
sign in again. An operator session ends when the operator key it signed in with changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterstack.errors import MeterstackError
from meterstack.records.audit import PYTHON, Actor
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext
from meterstack.services.keys import ANONYMOUS_KEY, USER_KEY
from meterstack.services.registration import verify_password
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import SessionRow

#: How long a sign-in link may wait to be used.
LINK_LIFETIME = timedelta(minutes=10)
#: How long a session lasts after sign-in, whatever the activity.
SESSION_LIFETIME = timedelta(hours=12)
#: Password attempts allowed per window, per account and per client address.
ATTEMPT_WINDOW = timedelta(minutes=15)
ACCOUNT_ATTEMPTS = 10
ADDRESS_ATTEMPTS = 30

CUSTOMER = "customer"
OPERATOR = "operator"
#: The keys whose revocation ends an account's sessions: those that reach its billing.
_SESSION_KEYS = (USER_KEY, ANONYMOUS_KEY)


class SignInLinkInvalidError(MeterstackError):
    """An unknown, used or expired sign-in link: one answer for all three."""

    code = "sign_in_link_invalid"
    http_status = 401


class InvalidCredentialsError(MeterstackError):
    """A wrong email address, password or operator key: one answer for all of them."""

    code = "invalid_credentials"
    http_status = 401


class TooManyAttemptsError(MeterstackError):
    code = "too_many_attempts"
    http_status = 429


@dataclass(frozen=True)
class SignInLink:
    account_id: str
    #: The secret the link carries; shown once, never stored.
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class WebSession:
    kind: str
    #: None for an operator session.
    account_id: str | None
    #: The synchronizer token each of the session's forms carries.
    csrf_token: str
    expires_at: datetime
    #: A notice left by the previous request, shown once.
    flash: str | None = None

    def accepts(self, csrf_token: str | None) -> bool:
        """Whether a form's token is this session's, compared in constant time."""
        return bool(csrf_token) and hmac.compare_digest(
            str(csrf_token).encode(), self.csrf_token.encode()
        )


@dataclass(frozen=True)
class StartedSession:
    session: WebSession
    #: The cookie's value: the session's secret id, given to the browser and never stored.
    cookie: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Access:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ links

    def mint_link(self, account_id: str, *, actor: Actor = PYTHON) -> SignInLink:
        """A single-use link that signs a browser in to the account, valid 10 minutes; the
        audit log records who minted it and until when it works, never its token."""
        token = secrets.token_urlsafe(32)
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            self.ctx.state(tx, account_id)  # 404 for an unknown account
            expires = now + LINK_LIFETIME
            tx.access.insert_link(_digest(token), account_id, now, expires)
            record(
                tx, now, actor, account_id, "dashboard.link_minted", after={"expires_at": expires}
            )
        return SignInLink(account_id, token, expires)

    def redeem_link(self, token: str, *, replacing: str | None = None) -> StartedSession:
        """Use a link once: a new session for its account, or 401 ``sign_in_link_invalid``."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            account_id = tx.access.use_link(_digest(token), now) if token else None
            if account_id is None:
                raise SignInLinkInvalidError(
                    "this sign-in link is unknown, was used already or has expired; "
                    "ask for a new one"
                )
            return self._start(tx, now, CUSTOMER, account_id, None, replacing)

    # ------------------------------------------------------------------ sign-in

    def start_session(self, account_id: str, *, replacing: str | None = None) -> StartedSession:
        """A session for an account whose credential the caller checked (a platform JWT)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            self.ctx.state(tx, account_id)
            return self._start(tx, now, CUSTOMER, account_id, None, replacing)

    def sign_in(
        self, email: str, password: str, *, address: str, replacing: str | None = None
    ) -> StartedSession:
        """A registered account's email and password; 401 when either is wrong, 429 past the
        attempts allowed for the account or the address."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            found = tx.access.registered_account(email)
            subjects = [f"address:{address}"]
            if found is not None:
                subjects.append(f"account:{found.account_id}")
            refused = self._admit(tx, now, subjects)
        if refused is not None:
            raise refused
        # The slow check runs outside any transaction: it would hold a writer's lock.
        if found is None or not verify_password(found.password_hash, password):
            raise InvalidCredentialsError("the email address or the password is wrong")
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            tx.access.forget_attempts(f"account:{found.account_id}")
            return self._start(tx, now, CUSTOMER, found.account_id, None, replacing)

    def operator_sign_in(
        self,
        key: str,
        operator_key: str | None,
        *,
        address: str,
        replacing: str | None = None,
    ) -> StartedSession:
        """An operator session for the operator key, compared in constant time; attempts are
        counted per address as for passwords."""
        with self.ctx.store.transaction() as tx:
            refused = self._admit(tx, self.ctx.now(), [f"operator:{address}"])
        if refused is not None:
            raise refused
        if operator_key is None or not hmac.compare_digest(key.encode(), operator_key.encode()):
            raise InvalidCredentialsError("the operator key is wrong")
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            return self._start(tx, now, OPERATOR, None, _digest(operator_key), replacing)

    # ------------------------------------------------------------------ sessions

    def session(self, cookie: str, *, operator_key: str | None = None) -> WebSession | None:
        """The live session of a cookie, its notice taken; None when there is none any more.

        ``operator_key`` is the key operator sessions must still match.
        """
        if not cookie:
            return None
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = tx.access.live_session(_digest(cookie), now)
            if row is None or not self._still_valid(tx, row, operator_key):
                if row is not None:
                    tx.access.end_session(row.id_hash, now)
                return None
            if row.flash is not None:
                tx.access.set_flash(row.id_hash, None)
            return WebSession(row.kind, row.account_id, row.csrf_token, row.expires_at, row.flash)

    def leave_notice(self, cookie: str, notice: str) -> None:
        """A notice the session's next page shows once (after a form's redirect)."""
        with self.ctx.store.transaction() as tx:
            tx.access.set_flash(_digest(cookie), notice[:500])

    def end_session(self, cookie: str) -> None:
        """Sign out; ending an ended session changes nothing."""
        if not cookie:
            return
        with self.ctx.store.transaction() as tx:
            tx.access.end_session(_digest(cookie), self.ctx.now())

    def renew_session(self, cookie: str) -> StartedSession | None:
        """The same sign-in under a new session id, the old one ended (after the account's own
        revocation of a key, which ends every session that began before it)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = tx.access.live_session(_digest(cookie), now)
            if row is None:
                return None
            return self._start(tx, now, row.kind, row.account_id, row.operator_fingerprint, cookie)

    # ------------------------------------------------------------------ internals

    def _still_valid(self, tx: UnitOfWork, row: SessionRow, operator_key: str | None) -> bool:
        if row.kind == OPERATOR:
            return operator_key is not None and hmac.compare_digest(
                row.operator_fingerprint or "", _digest(operator_key)
            )
        assert row.account_id is not None
        return tx.access.revoked_key_count(row.account_id, _SESSION_KEYS) <= row.revoked_keys

    def _admit(
        self, tx: UnitOfWork, now: datetime, subjects: list[str]
    ) -> TooManyAttemptsError | None:
        """Count one attempt for each subject; the refusal of the first that had no room."""
        for subject in subjects:
            most = ACCOUNT_ATTEMPTS if subject.startswith("account:") else ADDRESS_ATTEMPTS
            if not tx.access.admit_attempt(subject, now, now - ATTEMPT_WINDOW, most):
                started = tx.access.window_of(subject) or now
                retry = max(1, int((started + ATTEMPT_WINDOW - now).total_seconds()))
                return TooManyAttemptsError(
                    f"too many sign-in attempts; try again in {retry} seconds",
                    retry_after=retry,
                )
        return None

    def _start(
        self,
        tx: UnitOfWork,
        now: datetime,
        kind: str,
        account_id: str | None,
        fingerprint: str | None,
        replacing: str | None,
    ) -> StartedSession:
        if replacing:
            tx.access.end_session(_digest(replacing), now)
        cookie = secrets.token_urlsafe(32)
        revoked = (
            0 if account_id is None else tx.access.revoked_key_count(account_id, _SESSION_KEYS)
        )
        row = SessionRow(
            id_hash=_digest(cookie),
            kind=kind,
            account_id=account_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            revoked_keys=revoked,
            operator_fingerprint=fingerprint,
            flash=None,
        )
        tx.access.insert_session(row)
        session = WebSession(kind, account_id, row.csrf_token, row.expires_at)
        return StartedSession(session, cookie)

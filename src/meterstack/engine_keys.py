"""The engine's doors for API keys and anonymous accounts (A7, A8), mixed into :class:`Engine`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.decisions import Decision
from meterstack.services.accounts import Account
from meterstack.services.keys import ApiKey, IssuedKey, Keys


class KeysMixin:
    """API keys, service caps and anonymous accounts; every method delegates to ``self._keys``."""

    _keys: Keys

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
        """A new user key (``ask_…``), or project key (``apk_…``) when ``project_id`` is given.

        Counted against the plan's ``user_api_keys`` / ``api_keys`` limit (429 past it, A10).
        ``modules`` (the sensitive modules the key may use) and ``quotas`` (units per period per
        meter for this key alone) are service caps (A8): project keys only, on a plan with the
        ``service_caps`` feature (402 ``upgrade_required`` below it). The key's text is in the
        result only: store it now, it cannot be shown again.
        """
        return self._keys.create_api_key(
            account_id,
            project_id=project_id,
            name=name,
            modules=modules,
            quotas=quotas,
            actor=actor,
        )

    def revoke_api_key(
        self,
        key_id: str,
        *,
        account_id: str | None = None,
        user_only: bool = False,
        actor: Actor = PYTHON,
    ) -> None:
        """Revoke a key at once and free its slot; revoking it again changes nothing.

        With ``account_id``, another account's key answers 404 (not found); with
        ``user_only`` (a customer revoking its own user keys), so does a project key.
        """
        self._keys.revoke_api_key(key_id, account_id=account_id, user_only=user_only, actor=actor)

    def api_keys(
        self,
        account_id: str,
        *,
        project_id: str | None = None,
        revoked: bool = False,
        user_only: bool = False,
    ) -> list[ApiKey]:
        """The account's keys, oldest first (then by id): prefix, kind, project, caps, dates.

        A key's text is never shown again after its creation. ``project_id`` keeps one
        project's keys; ``revoked=True`` lists revoked keys too; ``user_only`` keeps the user
        keys (``ask_``/``anon_ask_``), counted against the plan's "User API Keys" (A2).
        """
        return self._keys.api_keys(
            account_id, project_id=project_id, revoked=revoked, user_only=user_only
        )

    def authenticate(self, key: str) -> ApiKey:
        """The live key whose text this is; wrong, truncated or revoked: 401 ``invalid_api_key``."""
        return self._keys.authenticate(key)

    def require_module(
        self, key_id: str, module: str, *, account_id: str | None = None
    ) -> Decision:
        """Whether the key's caps let it use ``module``; refused with 403 ``module_not_allowed``.

        With ``account_id``, another account's key answers 404.
        """
        return self._keys.require_module(key_id, module, account_id=account_id)

    def create_anonymous_account(
        self, *, client: str | None = None, per_hour: int | None = None
    ) -> tuple[Account, IssuedKey]:
        """A new account on the catalog's default plan and its ``anon_ask_…`` key (A7, D19).

        With ``client`` (its address) and ``per_hour``, at most ``per_hour`` accounts are made
        for that client in an hour, counted in the store (every engine and server on the
        database shares the count, and it outlives restarts): past it, 429 ``rate_limited``.
        """
        return self._keys.create_anonymous_account(client=client, per_hour=per_hour)

    def convert_anonymous(
        self,
        user_api_key: str,
        *,
        name: str,
        email: str,
        password: str,
        actor: Actor | None = None,
    ) -> tuple[Account, IssuedKey]:
        """Register an anonymous account on the catalog's fallback plan (FREE on AgentStack, A7).

        Same account id, usage, resources and data; the ``anon_ask_…`` key is revoked and a new
        ``ask_…`` key returned. 409 ``email_taken``, 422 ``invalid_email`` / ``password_too_short``.
        The audit log names the anonymous key's holder as the actor unless ``actor`` says who.
        """
        return self._keys.convert_anonymous(
            user_api_key, name=name, email=email, password=password, actor=actor
        )

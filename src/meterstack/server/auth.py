"""Who is calling: the operator (``/v1``), or a customer of one account (``/api``)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meterstack.engine import Engine
from meterstack.errors import AuthenticationError, MeterstackError
from meterstack.records.audit import Actor
from meterstack.server.settings import ServerSettings

bearer = HTTPBearer(auto_error=False)
#: Where the route's gate (server/contract.py) leaves the customer it authenticated.
CUSTOMER_SCOPE_KEY = "meterstack.customer"
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class ForbiddenError(MeterstackError):
    code = "forbidden"
    http_status = 403


@dataclass(frozen=True)
class Customer:
    """A customer request: one account, and the key (or token) it came with."""

    account_id: str
    key_id: str | None
    project_id: str | None

    @property
    def actor(self) -> Actor:
        """The customer as the audit log names it: its key, or ``token`` for a JWT."""
        return Actor.customer(self.key_id)


def operator_actor(reason: str | None = None) -> Actor:
    """The operator calling the REST API (one operator key), with the reason given."""
    return Actor.operator("api", reason)


async def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


async def operator(request: Request, credentials: Credentials) -> None:
    """The operator key, compared in constant time; customer keys are refused here."""
    settings = settings_of(request)
    if credentials is None:
        raise AuthenticationError("the operator API needs Authorization: Bearer <operator key>")
    if settings.operator_key is None or not hmac.compare_digest(
        credentials.credentials.encode(), settings.operator_key.encode()
    ):
        if credentials.credentials.startswith(("ask_", "apk_", "anon_ask_")):
            raise ForbiddenError("customer keys cannot use the operator API")
        raise AuthenticationError("invalid operator key")


def customer(request: Request, credentials: Credentials) -> Customer:
    """A user key, an ``anon_ask_`` key, a project key, or a platform JWT (D19)."""
    known: Customer | None = request.scope.get(CUSTOMER_SCOPE_KEY)
    if known is not None:
        return known  # authenticated by the route's gate, before the body was read
    if credentials is None:
        raise AuthenticationError("this endpoint needs Authorization: Bearer <API key or JWT>")
    token = credentials.credentials
    if token.count(".") == 2 and not token.startswith(("ask_", "apk_", "anon_ask_")):
        return _from_jwt(settings_of(request), token)
    engine: Engine = request.app.state.engine
    key = engine.authenticate(token)
    if key.project_id is not None:
        # A project key reaches only its project; the account's billing needs a user key.
        raise ForbiddenError("project keys cannot use the account's billing endpoints")
    return Customer(key.account_id, key.id, key.project_id)


def _from_jwt(settings: ServerSettings, token: str) -> Customer:
    if settings.jwt_key is None:
        raise AuthenticationError("this service does not accept JWTs")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=list(settings.jwt_algorithms),
            audience=settings.jwt_audience,
            options={"require": ["exp"]},
        )
    except jwt.PyJWTError as error:
        raise AuthenticationError(f"invalid token: {error}") from None
    account_id = claims.get(settings.jwt_account_claim)
    if not isinstance(account_id, str):
        raise AuthenticationError(f"the token has no {settings.jwt_account_claim!r} claim")
    return Customer(account_id, None, None)


OperatorDep = Annotated[None, Depends(operator)]
CustomerDep = Annotated[Customer, Depends(customer)]
EngineDep = Annotated[Engine, Depends(engine_of)]

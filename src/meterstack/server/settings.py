"""Service settings, from the environment (``METERSTACK_…``) or the command line."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERSTACK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    catalog: str = DEFAULT_CATALOG
    host: str = "127.0.0.1"
    port: int = 8000
    #: The key of the operator API (``/v1``); without one, ``/v1`` refuses every request.
    operator_key: str | None = None
    #: Platform JWTs (D19): the secret (HS256) or PEM public key (RS256/ES256) they are signed with.
    jwt_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str | None = None
    #: The claim naming the account.
    jwt_account_claim: str = "account_id"
    #: Where the local provider's pages are served (checkout and portal URLs point there).
    public_url: str | None = None
    #: Anonymous accounts created per client address per hour (D19).
    anonymous_per_hour: int = 10

"""``meterstack webhooks …``: endpoints, the outbox's events, attempts, replays, and the worker."""

from __future__ import annotations

import json
import signal
import threading
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from meterstack.cli.opening import engine_for
from meterstack.cli.options import AsJson, CatalogName, Database, cli_actor
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.records.webhooks import Attempt, Delivery, Endpoint

webhooks_app = typer.Typer(
    help="Outgoing webhooks: endpoints, events, deliveries, the delivery worker.",
    no_args_is_help=True,
)
endpoints_app = typer.Typer(help="Endpoints: create, list, update, rotate, delete.")
webhooks_app.add_typer(endpoints_app, name="endpoints")

Account = Annotated[str | None, typer.Option("--account", help="Only this account's.")]


def _endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "owner": str(endpoint.owner),
        "account_id": endpoint.account_id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat(),
    }


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    next_at = delivery.next_attempt_at
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "status": str(delivery.status),
        "attempts": delivery.attempts,
        "next_attempt_at": None if next_at is None else next_at.isoformat(),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
    }


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": attempt.started_at.isoformat(),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "succeeded": attempt.succeeded,
        "response_excerpt": attempt.response_excerpt,
    }


def _print(rows: list[dict[str, Any]], key: str, columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({key: rows}, indent=2))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console(width=160).print(table)


@endpoints_app.command("create")
def create_endpoint(
    url: Annotated[str, typer.Argument(help="Where to POST events (http or https).")],
    account: Account = None,
    event_type: Annotated[
        list[str] | None, typer.Option("--event-type", help="A type to receive (repeat).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note to show.")] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """An operator endpoint (every account's events unless --account); prints its secret once."""
    with engine_for(database, catalog) as engine:
        made = engine.webhooks.endpoints.create(
            url,
            account_id=account,
            event_types=event_type or (),
            description=description,
            actor=cli_actor(),
        )
    typer.echo(json.dumps({"endpoint": _endpoint_json(made.endpoint), "secret": made.secret}))


@endpoints_app.command("list")
def list_endpoints(
    account: Account = None,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Every endpoint (the operator's and customers'), oldest first."""
    with engine_for(database, catalog) as engine:
        rows = [_endpoint_json(e) for e in engine.webhooks.endpoints.find(account_id=account)]
    columns = ["id", "owner", "account_id", "url", "enabled"]
    _print(rows, "endpoints", columns, as_json)


@endpoints_app.command("update")
def update_endpoint(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id.")],
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Send or not.")] = None,
    event_type: Annotated[
        list[str] | None, typer.Option("--event-type", help="The types to receive (repeat).")
    ] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Change an endpoint's URL, event types or whether it is enabled."""
    with engine_for(database, catalog) as engine:
        changed = engine.webhooks.endpoints.update(
            endpoint_id, url=url, enabled=enabled, event_types=event_type, actor=cli_actor()
        )
    typer.echo(json.dumps(_endpoint_json(changed)))


@endpoints_app.command("rotate")
def rotate_secret(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id.")],
    overlap: Annotated[
        int | None, typer.Option(help="Seconds the old secret keeps signing (default 24 h).")
    ] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """A new signing secret, printed once; the old one signs too until the overlap ends."""
    with engine_for(database, catalog) as engine:
        rotated = engine.webhooks.endpoints.rotate_secret(
            endpoint_id,
            overlap=None if overlap is None else timedelta(seconds=overlap),
            actor=cli_actor(),
        )
    typer.echo(
        json.dumps(
            {
                "endpoint_id": rotated.endpoint_id,
                "secret": rotated.secret,
                "previous_expires_at": rotated.previous_expires_at.isoformat(),
            }
        )
    )


@endpoints_app.command("delete")
def delete_endpoint(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id.")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Delete an endpoint, its secrets and its delivery history."""
    with engine_for(database, catalog) as engine:
        engine.webhooks.endpoints.delete(endpoint_id, actor=cli_actor())
    typer.echo(f"deleted {endpoint_id}")


@webhooks_app.command("events")
def events(
    account: Account = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Events in the outbox, newest first (JSON: the bodies receivers get)."""
    with engine_for(database, catalog) as engine:
        found = engine.webhooks.events(account_id=account, event_type=event_type, limit=limit)
    if as_json:
        typer.echo(json.dumps({"events": [json.loads(e.body) for e in found]}, indent=2))
        return
    rows = [
        {"id": e.id, "type": e.type, "account_id": e.account_id, "at": e.occurred_at.isoformat()}
        for e in found
    ]
    _print(rows, "events", ["id", "type", "account_id", "at"], as_json)


@webhooks_app.command("deliveries")
def deliveries(
    endpoint: Annotated[str | None, typer.Option(help="Only to this endpoint.")] = None,
    event: Annotated[str | None, typer.Option(help="Only of this event.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, succeeded or failed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Deliveries with their status and attempt count, newest first."""
    with engine_for(database, catalog) as engine:
        found = engine.webhooks.deliveries(
            endpoint_id=endpoint, event_id=event, status=status, limit=limit
        )
    columns = ["id", "event_type", "endpoint_id", "status", "attempts", "next_attempt_at"]
    _print([_delivery_json(d) for d in found], "deliveries", columns, as_json)


@webhooks_app.command("attempts")
def attempts(
    delivery_id: Annotated[str, typer.Argument(help="Delivery id.")],
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Every attempt of a delivery: status, duration, error."""
    with engine_for(database, catalog) as engine:
        found = engine.webhooks.attempts(delivery_id)
    columns = ["number", "started_at", "duration_ms", "status_code", "succeeded", "error"]
    _print([_attempt_json(a) for a in found], "attempts", columns, as_json)


@webhooks_app.command("replay")
def replay(
    delivery_id: Annotated[str, typer.Argument(help="Delivery id (failed or delivered).")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Queue a delivery again, now, with a fresh retry schedule."""
    with engine_for(database, catalog) as engine:
        replayed = engine.webhooks.replay(delivery_id)
    typer.echo(json.dumps(_delivery_json(replayed)))


@webhooks_app.command("deliver")
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="One pass: send what is due now, then exit.")
    ] = False,
    idle_wait: Annotated[
        float, typer.Option(help="Seconds to wait when nothing was due.", min=0.05)
    ] = 1.0,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Run the delivery worker alone (beside others: they share the work), until Ctrl-C."""
    with engine_for(database, catalog) as engine:
        if once:
            report = engine.webhooks.deliver()
            typer.echo(
                json.dumps(
                    {
                        "fanned_out": report.fanned_out,
                        "attempts": report.attempts,
                        "succeeded": report.succeeded,
                        "retrying": report.retrying,
                        "failed": report.failed,
                    }
                )
            )
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        worker = engine.webhooks.worker()
        typer.echo(f"delivering webhooks as {worker.name}; Ctrl-C stops", err=True)
        try:
            worker.run(stop, idle_wait=idle_wait)
        finally:
            worker.close()

"""Bad input on the command line ends with one ``error:`` line and exit status 1, never a
traceback: whole numbers in digits that are not ASCII (``²``, which ``str.isdigit`` took and
``int`` refused), numbers past the store's range, a catalog that does not exist."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from meterstack import Engine
from meterstack.cli import app

runner = CliRunner()

NOT_ASCII = ("²", "①", "٣", "１２", "1_000")
TOO_LARGE = ("9223372036854775808", "9" * 5000)


def _one_error_line(result: Result, *expected: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: "), line
    for words in expected:
        assert words in line, line
    return line


def _account(store_url: str) -> str:
    created = runner.invoke(
        app, ["accounts", "create", "--plan", "starter", "--database", store_url, "--catalog",
              "aerostack"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    return created.stdout.strip()


def test_keys_create_refuses_a_quota_not_in_ascii_digits_with_one_error_line(
    store_url: str,
) -> None:
    account = _account(store_url)
    options = ["--database", store_url, "--catalog", "aerostack"]
    for units in (*NOT_ASCII, *TOO_LARGE, "-3", ""):
        result = runner.invoke(
            app, ["keys", "create", account, "--quota", f"api_requests={units}", *options]
        )
        _one_error_line(result, "the quota of api_requests must be")
    for pair in ("api_requests", "=5"):
        _one_error_line(
            runner.invoke(app, ["keys", "create", account, "--quota", pair, *options]),
            "a quota is METER=UNITS",
        )
    listed = runner.invoke(app, ["keys", "list", account, "--json", *options])
    assert json.loads(listed.stdout)["keys"] == []
    with Engine.open(store_url, catalog="aerostack") as engine:
        project = engine.create_project(account).id
    made = runner.invoke(
        app,
        ["keys", "create", account, "--project", project, "--quota", "api_requests=1000",
         *options],
    )  # fmt: skip
    assert made.exit_code == 0, made.output


def test_accounts_set_limit_refuses_a_limit_not_in_ascii_digits_with_one_error_line(
    store_url: str,
) -> None:
    account = _account(store_url)
    options = ["--database", store_url, "--catalog", "aerostack"]
    for limit in (*NOT_ASCII, *TOO_LARGE, "1.5"):
        result = runner.invoke(
            app, ["accounts", "set-limit", account, "api_requests", limit, *options]
        )
        _one_error_line(result, "limit must be")
    with Engine.open(store_url, catalog="aerostack") as engine:
        assert engine.usage(account)["api_requests"].limit == 500_000
        assert engine.audit(account_id=account, kind="limit.set").entries == []
    raised = runner.invoke(
        app, ["accounts", "set-limit", account, "api_requests", "Unlimited", *options]
    )
    assert raised.exit_code == 0, raised.output
    with Engine.open(store_url, catalog="aerostack") as engine:
        assert engine.usage(account)["api_requests"].limit is None


@pytest.mark.parametrize(
    "command",
    [["show", "nope"], ["validate", "nope"], ["diff", "nope", "aerostack"],
     ["diff", "aerostack", "nope"]],
)  # fmt: skip
def test_plans_commands_name_an_unknown_catalog_in_one_error_line(command: list[str]) -> None:
    result = runner.invoke(app, ["plans", *command])
    assert result.stdout == ""
    _one_error_line(result, "nope: no such file, and not a built-in catalog")

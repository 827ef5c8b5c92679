"""The command line's tables: ``--help`` lists every command from them without loading one, a
command loads only its own module, and each help a table shows is its command's own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from meterstack.cli import COMMANDS, app
from meterstack.cli.lazy import Lazy
from meterstack.cli.plans import PLANS

#: Modules no listing and no catalog command may load.
HEAVY = (
    "meterstack.engine",
    "meterstack.server",
    "sqlalchemy",
    "psycopg",
    "fastapi",
    "uvicorn",
    "httpx",
    "fpdf",
)

#: Runs the command line in a fresh interpreter, then prints the modules it had loaded.
PROBE = """
import json, sys
from meterstack.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _run(*args: str) -> tuple[str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": ""},
    )
    return result.stdout, set(json.loads(result.stderr.splitlines()[-1]))


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


#: (group, command, entry) of every table.
ENTRIES = [
    *(("", name, entry) for name, entry in COMMANDS.items()),
    *(("plans", name, entry) for name, entry in PLANS.items()),
]


@pytest.mark.parametrize(
    ("group", "name", "entry"), ENTRIES, ids=[f"{g} {n}".strip() for g, n, _ in ENTRIES]
)
def test_each_listed_help_is_the_commands_own(group: str, name: str, entry: Lazy) -> None:
    command = entry.load(name)
    assert command.name == name
    assert _first_paragraph(command.short_help or command.help or "") == entry.help, group


def test_help_lists_every_command_with_its_help_and_loads_none() -> None:
    listed, loaded = _run("--help")
    for name, entry in COMMANDS.items():
        line = next(line for line in listed.splitlines() if line.startswith(f"│ {name} "))
        assert entry.help in " ".join(line.split()), line
    commands = {module for module in loaded if module.startswith("meterstack.cli.")}
    assert commands == {"meterstack.cli.lazy"}
    assert not [module for module in HEAVY if module in loaded]


def test_plans_list_loads_the_catalog_commands_only() -> None:
    listed, loaded = _run("plans", "list")
    assert "agentstack" in listed
    assert "flowstack" in listed
    commands = {module for module in loaded if module.startswith("meterstack.cli.")}
    assert commands == {"meterstack.cli.lazy", "meterstack.cli.plans", "meterstack.cli.catalogs"}
    assert not [module for module in HEAVY if module in loaded]


def test_a_mistyped_command_is_refused_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["plan", "list"])
    assert result.exit_code == 2
    assert "No such command 'plan'" in result.output
    assert "Did you mean 'plans'?" in result.output

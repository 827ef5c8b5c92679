"""Command groups that load a command's module only when the command runs.

``meterstack --help`` lists every command, and ``meterstack plans list`` reads the built-in
catalogs; neither should pay for the engine, the database drivers or the web service, which
take most of a second to import. So each command module imports what it uses at its top, and a
group names its commands in a table: the module, the attribute and the one-line help. A listing
(``--help``, a mistyped command's suggestions) shows the table's help and loads nothing; running
a command imports its module then (Click's lazily loaded group). ``bench/cli.py`` measures the
start, and a test checks every help of a table against the command it names.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter
from typer.core import TyperCommand, TyperGroup

#: Set in the context while a group lists its commands: they stand in for the real ones.
_LISTING = "meterstack.cli.listing"


@dataclass(frozen=True, slots=True)
class Lazy:
    """A command of a table: ``module.attribute`` is a function (one command) or a
    ``typer.Typer`` (a group of commands)."""

    module: str
    attribute: str
    #: What a listing shows: the command's own one-line help.
    help: str

    def load(self, name: str) -> Command:
        """Import the module and make the command, named ``name``."""
        found = getattr(importlib.import_module(self.module), self.attribute)
        command: Command
        if isinstance(found, typer.Typer):
            command = typer.main.get_group(found)
        else:
            one = typer.Typer(add_completion=False)
            one.command(name)(found)
            command = typer.main.get_command(one)
        command.name = name
        return command


class LazyGroup(TyperGroup):
    """A group whose commands are its class's ``table``, in the order given."""

    table: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Placeholders with the table's help: what a listing (and a suggestion) reads.
        self.commands = {
            name: TyperCommand(name, short_help=entry.help) for name, entry in self.table.items()
        }
        self._loaded: dict[str, Command] = {}

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if ctx.meta.get(_LISTING):
            return super().get_command(ctx, cmd_name)
        entry = self.table.get(cmd_name)
        if entry is None:
            return None
        command = self._loaded.get(cmd_name)
        if command is None:
            command = self._loaded[cmd_name] = entry.load(cmd_name)
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        ctx.meta[_LISTING] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            del ctx.meta[_LISTING]

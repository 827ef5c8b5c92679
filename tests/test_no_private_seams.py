"""Tests use meterstack's public seams, never its private names.

A test that reads ``engine._ctx.store`` or replaces ``close._draft`` breaks when the code is
reorganised without any change a user could see, and passes while the public surface it should
prove is missing. So the tests build what they need and hand it over (the store to
``Engine.on``, a provider, a ``FaultyStore``, an invoice check), or read a public property.

The scan reads every test module with ``ast`` and refuses:

- an attribute with one leading underscore (``engine._ctx``, ``store._idle``), except on
  ``self``/``cls`` and a named tuple's own API (``_replace``…);
- a private name given as a string to ``getattr``/``setattr``/``delattr``/``hasattr`` or to
  ``monkeypatch.setattr``/``delattr``;
- ``monkeypatch.setattr``/``delattr`` of anything imported from meterstack, or of a dotted
  ``"meterstack…"`` target: a test injects behaviour through a seam, it does not swap code;
- an import of a private meterstack module or name.

Third-party internals are not meterstack's: a name imported from another package (``os._exit``,
``stripe.WebhookSignature._compute_signature``, what the Stripe fake imports from
``stripe._…``) may be used as that package allows.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).parent

#: Files allowed to reach private names for now, each with what it reaches: none today. An entry
#: is removed once its file uses public seams (the stale-entry test below fails when a listed file
#: has nothing left).
ALLOWED: dict[str, str] = {}

#: A named tuple's public API, which starts with an underscore so as not to clash with fields.
NAMED_TUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_field_defaults", "_make"})
NAME_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
PATCHES = frozenset({"setattr", "delattr"})


@dataclass(frozen=True)
class Violation:
    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _meterstack(module: str) -> bool:
    return module == "meterstack" or module.startswith("meterstack.")


def _imported(tree: ast.Module) -> dict[str, bool]:
    """Each name the module imports, and whether it comes from meterstack."""
    names: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                names[bound] = _meterstack(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = _meterstack(node.module)
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _third_party(node: ast.expr, imported: dict[str, bool]) -> bool:
    root = _root(node)
    return root is not None and imported.get(root) is False


def _private_imports(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if _meterstack(a.name) and "._" in a.name]
    if node.module is not None and _meterstack(node.module):
        module_private = any(_private(part) for part in node.module.split("."))
        return [f"{node.module}.{a.name}" for a in node.names if module_private or _private(a.name)]
    return []


def _call_violation(node: ast.Call, imported: dict[str, bool]) -> str | None:
    function = node.func
    patch = (
        isinstance(function, ast.Attribute)
        and function.attr in PATCHES
        and _root(function.value) == "monkeypatch"
    )
    builtin = isinstance(function, ast.Name) and function.id in NAME_FUNCTIONS
    if not (patch or builtin) or not node.args:
        return None
    target = node.args[0]
    if patch and isinstance(target, ast.Constant) and isinstance(target.value, str):
        if _meterstack(target.value):
            return f"monkeypatches {target.value!r}"
        return None
    if _third_party(target, imported):
        return None
    if len(node.args) > 1:
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
            return f"{ast.unparse(node)[:80]}: a private name by string"
    if patch and imported.get(_root(target) or "") is True:
        return f"{ast.unparse(node)[:80]}: monkeypatches meterstack"
    return None


def violations(source: str) -> list[Violation]:
    """Where ``source`` (a test module) reaches past meterstack's public surface."""
    tree = ast.parse(source)
    imported = _imported(tree)
    found: list[Violation] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [
                Violation(node.lineno, f"imports the private {n}") for n in _private_imports(node)
            ]
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in NAMED_TUPLE_API or _third_party(node.value, imported):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(Violation(node.lineno, f"reads the private {ast.unparse(node)}"))
        elif isinstance(node, ast.Call):
            text = _call_violation(node, imported)
            if text is not None:
                found.append(Violation(node.lineno, text))
    return sorted(found, key=lambda violation: violation.line)


def _test_modules() -> dict[str, list[Violation]]:
    return {
        path.relative_to(TESTS).as_posix(): violations(path.read_text(encoding="utf-8"))
        for path in sorted(TESTS.rglob("*.py"))
    }


def test_tests_use_no_private_seams_of_meterstack() -> None:
    found = {
        path: [str(v) for v in listed]
        for path, listed in _test_modules().items()
        if listed and path not in ALLOWED
    }
    assert found == {}, "tests reach meterstack's private names; use a public seam instead"


def test_every_allowed_file_still_needs_its_entry() -> None:
    modules = _test_modules()
    stale = [path for path in ALLOWED if not modules.get(path)]
    assert stale == [], "these files use public seams now: remove them from ALLOWED"


def test_the_scan_finds_each_kind_of_private_seam() -> None:
    source = """
import os
import stripe
from meterstack.services.invoicing import close
from meterstack.store._hidden import thing
from meterstack.engine import _open_store


def test(engine, monkeypatch, row):
    engine._ctx.store
    monkeypatch.setattr(close, "_draft", None)
    monkeypatch.setattr(close.PeriodClose, "apply_due", None)
    monkeypatch.setattr("meterstack.server.dashboard.console.CLOSE_WAIT", 0.05)
    getattr(engine, "_payments")
    self._fine
    row._replace(a=1)
    os._exit(0)
    stripe.WebhookSignature._compute_signature("a", "b")
    monkeypatch.setattr(os, "_exit", None)
"""
    found = [str(v) for v in violations(source)]

    assert found == [
        "line 5: imports the private meterstack.store._hidden.thing",
        "line 6: imports the private meterstack.engine._open_store",
        "line 10: reads the private engine._ctx",
        "line 11: monkeypatch.setattr(close, '_draft', None): a private name by string",
        "line 12: monkeypatch.setattr(close.PeriodClose, 'apply_due', None): monkeypatches "
        "meterstack",
        "line 13: monkeypatches 'meterstack.server.dashboard.console.CLOSE_WAIT'",
        "line 14: getattr(engine, '_payments'): a private name by string",
    ]

"""Loading a catalog file: YAML -> validated :class:`Catalog`, with precise errors.

Every problem is reported with the file, the line and the dotted path of the offending field
(``plans.pro.limits.api_calls: expected a whole number or "unlimited", got "2M"``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from meterstack.catalog.schema import Catalog

BUILTIN_PACKAGE = "meterstack.catalog.builtin"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class CatalogProblem:
    """One problem found in a catalog file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class CatalogError(ValueError):
    """A catalog that cannot be used; carries every problem found."""

    def __init__(self, problems: list[CatalogProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class LoadedCatalog:
    """A validated catalog with where it came from and the hash of its content."""

    catalog: Catalog
    source: str
    text: str

    @property
    def content_hash(self) -> str:
        return catalog_hash(self.catalog)


def catalog_hash(catalog: Catalog) -> str:
    """Hash of a catalog's normalized content: formatting and comments do not change it."""
    normalized = json.dumps(catalog.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(normalized.encode()).hexdigest()


def builtin_names() -> list[str]:
    """Names of the catalogs shipped with meterstack."""
    folder = resources.files(BUILTIN_PACKAGE)
    names = (entry.name for entry in folder.iterdir())
    return sorted(name.removesuffix(".yaml") for name in names if name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    return resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_catalog(name_or_path: str | Path) -> LoadedCatalog:
    """Load a built-in catalog by name, or a catalog file by path."""
    text_name = str(name_or_path)
    if isinstance(name_or_path, str) and text_name in builtin_names():
        return parse_catalog(builtin_text(text_name), source=f"builtin:{text_name}")
    path = Path(name_or_path)
    if not path.exists():
        known = ", ".join(builtin_names())
        raise CatalogError(
            [
                CatalogProblem(
                    text_name, None, "", f"no such file, and not a built-in catalog ({known})"
                )
            ]
        )
    return parse_catalog(path.read_text(encoding="utf-8"), source=str(path))


def parse_catalog(text: str, source: str = "<catalog>") -> LoadedCatalog:
    """Parse and validate catalog text; raise :class:`CatalogError` with every problem."""
    from meterstack.catalog.validate import cross_reference_problems

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([CatalogProblem(source, line, "", f"invalid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise CatalogError([CatalogProblem(source, 1, "", "a catalog must be a YAML mapping")])
    lines = _line_map(node)
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(_problems_from(exc, raw, lines, source)) from None
    problems = [
        CatalogProblem(source, _line_of(lines, path), _dotted(path), message)
        for path, message in cross_reference_problems(catalog)
    ]
    if problems:
        raise CatalogError(problems)
    return LoadedCatalog(catalog=catalog, source=source, text=text)


def _line_map(node: yaml.Node | None) -> dict[Path_, int]:
    """Map every path of the YAML document to the 1-based line it starts on."""
    lines: dict[Path_, int] = {}

    def walk(current: yaml.Node, path: Path_) -> None:
        lines[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                key = key_node.value
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
                lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for index, child in enumerate(current.value):
                walk(child, (*path, index))

    if node is not None:
        walk(node, ())
    return lines


def _line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(str(p) if not isinstance(p, int) else p for p in path[:end]))
        if line is not None:
            return line
    return None


def _dotted(path: Path_) -> str:
    return ".".join(str(part) for part in path)


_UNION_TAGS = {
    "per_block",
    "standard",
    "graduated",
    "volume",
    "package",
    "percentage",
    "int",
    "Unlimited",
    "enum",
    "function-before[_parse_limit(), union[int,enum]]",
    "PlanPrice",
    "literal['custom']",
    "bool",
    "str",
    "str-pattern[^[a-z][a-z0-9_]*$]",
    "decimal",
    "function-before[_parse_decimal(), decimal]",
}


def _problems_from(
    exc: ValidationError, raw: dict[str, Any], lines: dict[Path_, int], source: str
) -> list[CatalogProblem]:
    plan_keys = list(raw.get("plans", {}) or {}) if isinstance(raw.get("plans"), dict) else None
    problems: list[CatalogProblem] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        path = _source_path(error["loc"], plan_keys)
        message = _message(error)
        key = (_dotted(path), message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(CatalogProblem(source, _line_of(lines, path), _dotted(path), message))
    return problems


def _source_path(loc: tuple[str | int, ...], plan_keys: list[str] | None) -> Path_:
    """Turn pydantic's location into the path as written in the file."""
    path: list[str | int] = []
    for index, part in enumerate(loc):
        if isinstance(part, str) and part in _UNION_TAGS:
            continue
        if isinstance(part, str) and (part.startswith("function-") or part.startswith("literal[")):
            continue
        if index == 1 and loc[0] == "plans" and isinstance(part, int) and plan_keys is not None:
            path.append(plan_keys[part] if part < len(plan_keys) else part)
            continue
        if path and path[-1] == "plans" and len(path) == 2 and part == "id":
            continue
        path.append(part)
    return tuple(path)


def _message(error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind == "string_pattern_mismatch":
        return (
            f"expected an identifier (lower case letters, digits and _), got "
            f"{json.dumps(error.get('input'))}"
        )
    return message

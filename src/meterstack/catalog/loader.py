"""Loading a catalog file: YAML -> validated :class:`Catalog`, with precise errors.

Every problem is reported with the file, the line and the dotted path of the offending field
(``plans.pro.limits.api_calls: expected a whole number or "unlimited", got "2M"``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError

from meterstack.catalog.schema import ID_PATTERN, Catalog, show
from meterstack.catalog.validate import cross_reference_problems

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

    @cached_property
    def _lines(self) -> dict[Path_, int]:
        return _line_map(yaml.compose(self.text, Loader=yaml.SafeLoader))

    def line_of(self, path: Path_) -> int | None:
        """The line of the source text where the field at ``path`` (or its nearest parent) is."""
        return _line_of(self._lines, path)


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
    if not path.is_file():
        known = ", ".join(builtin_names())
        what = "a directory" if path.is_dir() else "no such file"
        raise CatalogError(
            [CatalogProblem(text_name, None, "", f"{what}, and not a built-in catalog ({known})")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise CatalogError(
            [CatalogProblem(text_name, None, "", f"cannot read: {reason}")]
        ) from None
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, source: str = "<catalog>") -> LoadedCatalog:
    """Parse and validate catalog text; raise :class:`CatalogError` with every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([CatalogProblem(source, line, "", f"invalid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        got = "an empty document" if raw is None else _shown(raw)
        raise CatalogError(
            [CatalogProblem(source, 1, "", f"expected a catalog (a YAML mapping), got {got}")]
        )
    duplicates: list[tuple[Path_, int, int]] = []
    lines = _line_map(node, duplicates)
    problems = [
        CatalogProblem(
            source,
            line,
            _dotted(path),
            f"{show(path[-1])} is written twice (first on line {first})",
        )
        for path, line, first in duplicates
    ]
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(_sorted([*problems, *_problems_from(exc, raw, lines, source)])) from None
    problems += [
        CatalogProblem(source, _line_of(lines, path), _dotted(path), message)
        for path, message in cross_reference_problems(catalog)
    ]
    if problems:
        raise CatalogError(_sorted(problems))
    return LoadedCatalog(catalog=catalog, source=source, text=text)


def _sorted(problems: list[CatalogProblem]) -> list[CatalogProblem]:
    """In file order, so that a reader can fix them top to bottom."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


# --------------------------------------------------------------------------- lines


def _line_map(
    node: yaml.Node | None, duplicates: list[tuple[Path_, int, int]] | None = None
) -> dict[Path_, int]:
    """Map every path of the YAML document to the 1-based line it starts on.

    A key written twice in one mapping goes to ``duplicates`` as (path, line, first line): YAML
    itself would silently keep the last value only.
    """
    lines: dict[Path_, int] = {}

    def walk(current: yaml.Node, path: Path_) -> None:
        lines[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in current.value:
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first and key != "<<" and duplicates is not None:
                    duplicates.append(((*path, key), line, first[key]))
                first.setdefault(key, line)
                walk(value_node, (*path, key))
                lines[(*path, key)] = line
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


# --------------------------------------------------------------------------- schema errors

# pydantic's names of union members it could not follow (validators, literals, patterns).
_TAG_PREFIXES = ("function-", "literal[", "constrained-", "str-pattern[")

# What each member of a union accepts, for a value that matches none of them.
_EXPECTED_BY_TAG = {
    "PlanPrice": ['a mapping of prices such as {monthly: "10.00"}'],
    "bool": ["true", "false"],
    "constrained-str": ["a level name (lower case letters, digits and _)"],
}
# What a value should have been, by pydantic's error type.
_EXPECTATIONS = {
    **dict.fromkeys(("bool_parsing", "bool_type"), "true or false"),
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "a whole number"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a mapping"),
    **dict.fromkeys(("tuple_type", "list_type"), "a list"),
    "string_type": "text",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "{} or more"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "{} or less"),
    "less_than": ("lt", "less than {}"),
}


def _union_members_at(loc: Path_) -> set[int]:
    """Positions in pydantic's location that name a member of a union, not a field or a key."""
    positions: set[int] = set()
    annotation: Any = Catalog
    for index, part in enumerate(loc):
        if annotation is None:
            if isinstance(part, str) and part.startswith(_TAG_PREFIXES):
                positions.add(index)
            continue
        members = [pair for pair in _members(annotation) if pair[0] is not type(None)]
        if len(members) > 1:
            positions.add(index)
            names = ((member, (tag, getattr(member, "__name__", None))) for member, tag in members)
            annotation = next((member for member, known in names if part in known), None)
        else:
            annotation = _step(annotation, part)
    return positions


def _problems_from(
    exc: ValidationError, raw: dict[str, Any], lines: dict[Path_, int], source: str
) -> list[CatalogProblem]:
    plan_keys = list(raw["plans"]) if isinstance(raw.get("plans"), dict) else None
    problems: list[CatalogProblem] = []
    seen: set[tuple[str, str]] = set()
    for loc, message in _union_aware(exc.errors(include_url=False)):
        path = _source_path(loc, plan_keys)
        key = (_dotted(path), message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(CatalogProblem(source, _line_of(lines, path), _dotted(path), message))
    return problems


def _union_aware(errors: list[Any]) -> list[tuple[Path_, str]]:
    """One message per field: a value no member of a union accepts gets one combined message."""
    groups: dict[Path_, list[Any]] = {}
    plain: list[tuple[Path_, str]] = []
    for error in errors:
        if _emptied_by_its_entries(error):
            continue
        loc: Path_ = tuple(error["loc"])
        members_at = _union_members_at(loc)
        if not members_at:
            plain.append((loc, _message(error)))
        else:
            groups.setdefault(loc[: min(members_at)], []).append(error)
    merged = list(plain)
    for prefix, members in groups.items():
        merged.extend(_union_messages(prefix, members))
    return merged


def _emptied_by_its_entries(error: Any) -> bool:
    """pydantic's "too short" for a list whose entries were written but failed themselves.

    A plans mapping with one broken plan is not also "expected at least 1 entry": the broken
    plan's own errors say what is wrong.
    """
    if error["type"] != "too_short":
        return False
    written = error.get("input")
    wanted = (error.get("ctx") or {}).get("min_length", 0)
    return isinstance(written, list | tuple | dict) and len(written) >= wanted


def _union_messages(prefix: Path_, members: list[Any]) -> list[tuple[Path_, str]]:
    depth = len(prefix) + 1
    tags = list(dict.fromkeys(str(error["loc"][len(prefix)]) for error in members))
    at_value = [error for error in members if len(error["loc"]) == depth]
    deeper = [error for error in members if len(error["loc"]) > depth]
    value = at_value[0]["input"] if at_value else None
    constraint = [error for error in at_value if error["type"] in _BOUNDS]
    if len(tags) == 1 or (deeper and isinstance(value, dict)) or not at_value:
        # One member, or a mapping that could only be meant for the model member: its errors.
        chosen = members if len(tags) == 1 else deeper
        return [(tuple(error["loc"]), _message(error)) for error in chosen]
    if constraint:
        # The value has the right type for one member but breaks its bound: say which.
        return [(prefix, _message(error)) for error in constraint]
    expected = [phrase for tag in tags for phrase in _expected(tag)]
    listed = ", ".join(expected[:-1]) + " or " + expected[-1]
    return [(prefix, f"expected {listed}, got {_shown(value)}")]


def _expected(tag: str) -> list[str]:
    if tag in _EXPECTED_BY_TAG:
        return _EXPECTED_BY_TAG[tag]
    if tag.startswith("literal["):
        return [_quoted(tag.removeprefix("literal[").removesuffix("]"))]
    if "decimal" in tag:
        return ['a decimal amount such as "10.00"']
    return [tag]


def _source_path(loc: Path_, plan_keys: list[str] | None) -> Path_:
    """Turn pydantic's location into the path as written in the file."""
    path: list[str | int] = []
    members_at = _union_members_at(loc)
    for index, part in enumerate(loc):
        if index in members_at:
            continue
        if index == 1 and loc[0] == "plans" and isinstance(part, int) and plan_keys is not None:
            path.append(plan_keys[part] if part < len(plan_keys) else part)
            continue
        if len(path) == 2 and path[0] == "plans" and part == "id":
            continue
        path.append(part)
    return tuple(path)


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _shown(error.get("input"))
    if kind == "extra_forbidden":
        return _unknown_field(tuple(error["loc"]))
    if kind == "missing":
        return "required field missing"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == ID_PATTERN:
            return f"expected an identifier (lower case letters, digits and _), got {got}"
        if error["loc"] == ("currency",):
            return f'expected a three-letter currency code such as "USD", got {got}'
        return f"expected text matching {ctx.get('pattern')}, got {got}"
    if kind in _EXPECTATIONS:
        return f"expected {_EXPECTATIONS[kind]}, got {got}"
    if kind in _BOUNDS:
        bound, phrase = _BOUNDS[kind]
        return f"expected {phrase.format(_number(ctx.get(bound)))}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"expected {_quoted(str(ctx.get('expected')))}, got {got}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {got}"
    if kind == "too_short":
        wanted = ctx.get("min_length")
        return f"expected at least {wanted} {'entry' if wanted == 1 else 'entries'}, got none"
    if kind == "union_tag_invalid":
        expected = str(ctx.get("expected_tags", "")).replace("'", "")
        return f"unknown charge model {show(ctx.get('tag'))}; expected one of {expected}"
    return str(error["msg"]).removeprefix("Value error, ")


def _number(value: Any) -> str:
    """A bound as a reader writes it: ``1,000,000``, not ``Decimal('1000000')``."""
    if isinstance(value, str) and value.startswith("Decimal('"):
        value = Decimal(value.removeprefix("Decimal('").removesuffix("')"))  # pydantic's repr
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _shown(value: Any) -> str:
    """A value as a message quotes it, spelled as YAML writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return show(value)


def _quoted(expected: str) -> str:
    """pydantic's ``'a', 'b' or 'c'`` in the double quotes of our messages."""
    return expected.replace("'", '"')


def _unknown_field(loc: Path_) -> str:
    fields = _fields_of_model_at(loc[:-1])
    if not fields:
        return "unknown field"
    name = str(loc[-1])
    close = [field for field in fields if field.startswith(name)]
    close = close or difflib.get_close_matches(name, fields, n=1)
    if close:
        return f"unknown field; did you mean {show(close[0])}?"
    return "unknown field; expected one of " + ", ".join(fields)


def _fields_of_model_at(loc: Path_) -> list[str]:
    """Field names of the model found at ``loc`` from the catalog down; [] if none."""
    annotation: Any = Catalog
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for member, _ in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return list(member.model_fields)
    return []


def _members(annotation: Any, tag: str | None = None) -> list[tuple[Any, str | None]]:
    """Unwrap ``Annotated`` and unions into their members, each with its union tag."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        tags = [item.tag for item in metadata if isinstance(item, Tag)]
        return _members(inner, tags[0] if tags else tag)
    if origin is Union or origin is types.UnionType:
        return [pair for member in get_args(annotation) for pair in _members(member, tag)]
    return [(annotation, tag)]


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one level down: a model's field, a mapping's value, a list's item."""
    for member, tag in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            if part in member.model_fields:
                return member.model_fields[str(part)].annotation
            if part in (tag, member.__name__):
                return member
        elif get_origin(member) is dict and isinstance(part, str):
            return get_args(member)[1]
        elif get_origin(member) is tuple and isinstance(part, int):
            return get_args(member)[0]
    return None

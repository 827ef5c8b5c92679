"""An import-linter contract: no module reaches itself through its imports.

import-linter's own ``acyclic_siblings`` contract compares packages: once a domain package holds
its own sub-packages (invoicing inside the services), two of them that use each other's modules
count as a circle although no module needs itself. This contract looks at modules, as Python
imports them: every import counts, one made inside a function or for the type checker only as
well, since both hide the circle they close. An import may be declared in ``ignore_imports``
when the circle it closes is deliberate; the contract fails when such a declaration no longer
matches an import.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import cast

import grimp
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.imports import ImportExpression


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        # A field on the class, its parsed value on the contract.
        ignored = cast("set[ImportExpression] | None", self.ignore_imports)
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=sorted(ignored or (), key=str),
            unmatched_alerting=AlertLevel.ERROR,
        )
        circles = [_circle(graph, component) for component in _components(graph)]
        return ContractCheck(
            kept=not circles,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"circles": circles},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for circle in check.metadata["circles"]:
            output.print_error("An import circle:")
            for importer, imported, line in circle:
                output.print_error(f"  {importer} -> {imported} (l.{line})", bold=False)
            output.new_line()


def _components(graph: grimp.ImportGraph) -> Iterator[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            following = next(imported, None)
            if following is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        yield sorted(component)
            elif following not in index:
                index[following] = low[following] = len(index)
                stack.append(following)
                on_stack.add(following)
                work.append(
                    (following, iter(sorted(graph.find_modules_directly_imported_by(following))))
                )
            elif following in on_stack:
                low[module] = min(low[module], index[following])


def _circle(graph: grimp.ImportGraph, component: list[str]) -> list[tuple[str, str, int]]:
    """One circle through the component's first module: each import with its line."""
    members = set(component)
    start = component[0]
    # Breadth-first from the start back to it, inside the component: the shortest circle.
    came_from: dict[str, str] = {}
    frontier = [start]
    while start not in came_from:
        following_frontier = []
        for module in frontier:
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                if imported in members and imported not in came_from:
                    came_from[imported] = module
                    following_frontier.append(imported)
        frontier = following_frontier
    path = [start]
    while came_from[path[-1]] != start:
        path.append(came_from[path[-1]])
    path.append(start)
    path.reverse()
    steps = []
    for importer, imported in itertools.pairwise(path):
        details = graph.get_import_details(importer=importer, imported=imported)
        steps.append((importer, imported, details[0]["line_number"] if details else 0))
    return steps

"""The layers of docs/architecture.md, checked over the import graph of the source.

Every ``import`` and ``from ... import`` of the engine's own modules is read from
the source (function-level imports included), so a lazy import cannot hide an
arrow that points the wrong way.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "edi", "workers")

#: Lowest first.  A module may import its own unit and the units of lower layers;
#: units of one layer never import one another.
LAYERS: list[list[str]] = [
    ["schemas"],
    ["edi", "workers.runtime", "workers.documents", "workers.pricing"],
    [
        "workers.enrich",
        "workers.units",
        "workers.claims",
        "workers.remits",
        "workers.deposits",
        "workers.eligibility",
        "workers.payer_sim",
    ],
    ["workers.ops", "workers.inbound", "workers.partners"],
    ["workers.commands", "workers.demo", "workers.engine"],
    ["workers.cli"],
]
#: Libraries the contracts and the X12 code must not know (the sketch's rule).
EDGES_ONLY = ("faust", "mode", "kafka", "aiokafka", "structlog")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, name: str) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for target in imports(path, name):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def unit_of(module: str) -> tuple[int, str]:
    for level, units in enumerate(LAYERS):
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return level, unit
    raise AssertionError(f"{module} is in no layer: add it to docs/architecture.md and LAYERS")


def test_every_module_belongs_to_a_layer() -> None:
    for name in modules():
        if name != "workers":
            unit_of(name)


def test_imports_point_only_downward_and_never_sideways() -> None:
    wrong = []
    for source, targets in graph().items():
        if source == "workers":
            continue
        level, unit = unit_of(source)
        for target in targets:
            if target == "workers":
                continue
            t_level, t_unit = unit_of(target)
            if t_unit != unit and t_level >= level:
                wrong.append(f"{source} -> {target} ({unit} may not import {t_unit})")
    assert not wrong, "\n".join(sorted(wrong))


def test_there_is_no_import_circle() -> None:
    """No strongly connected component of more than one module (Tarjan)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(modules()):
        if node not in index:
            visit(node)
    assert not circles, circles


def test_contracts_and_x12_know_nothing_of_kafka_or_logging() -> None:
    wrong = []
    for name, path in modules().items():
        if not name.startswith(("schemas", "edi")):
            continue
        for target in imports(path, name):
            if target.split(".")[0] in EDGES_ONLY:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_the_claims_processor_stays_a_thin_edge() -> None:
    """Decode -> core -> send/commit: under 400 lines, no function over 60."""
    path = REPO / "workers" / "claims" / "processor.py"
    text = path.read_text()
    assert len(text.splitlines()) < 400
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long


def test_a_sideways_import_would_be_caught() -> None:
    """The check itself: a stage importing another stage is refused."""
    assert unit_of("workers.remits.reconcile") == (2, "workers.remits")
    level, unit = unit_of("workers.claims.secondary")
    assert (level, unit) == (2, "workers.claims") and unit != "workers.remits"
    assert unit_of("workers.runtime.app")[0] < unit_of("workers.ops.dashboard")[0]

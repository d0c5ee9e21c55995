"""The package's shape: one Kafka layer, no import cycles, modules a reader can take in.

- aiokafka is imported only inside `screener/kafka/` (the service, the tools and the test
  support all go through it);
- no module of `screener` imports, even lazily or under TYPE_CHECKING, a module that imports
  it back (directly or through others);
- no module of `screener` is over 400 lines unless its docstring says why (`Long:`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "screener"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module named by an import anywhere in the file (top level, functions, guards)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {t for t in _imports(path, name) if t in modules and t != name}
        for name, path in modules.items()
    }


def test_aiokafka_is_imported_only_by_the_kafka_layer() -> None:
    offenders = []
    tests = ROOT / "tests"
    files = [*PACKAGE.rglob("*.py"), *tests.rglob("conftest.py"), *tests.rglob("*_support.py"),
             tests / "reliability" / "harness.py"]  # fmt: skip
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("screener/kafka/"):
            continue
        if rel.startswith("screener/measure/contenders/"):
            continue  # the benchmark's yardsticks: standalone programs, straight on the client
        if any(t == "aiokafka" or t.startswith("aiokafka.") for t in _imports(path, "")):
            offenders.append(rel)
    assert offenders == []


def test_the_kafka_layer_is_where_aiokafka_is() -> None:
    """The test above would pass vacuously if the package stopped being found."""
    layer = list((PACKAGE / "kafka").glob("*.py"))
    assert any("aiokafka" in t for p in layer for t in _imports(p, "screener.kafka"))


def test_no_import_cycles() -> None:
    graph = _graph()
    assert len(graph) > 40 and graph["screener.pipeline.worker"]  # the walk finds imports
    # Tarjan's strongly connected components: any component of 2+ modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert sorted(cycles) == []


def test_long_modules_say_why() -> None:
    unexplained = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES and "Long:" not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{name} ({lines} lines)")
    assert unexplained == []

"""From which probability a pack's rules read each model category (what the engine passes on).

The engine hands a rule a category's probability only for messages where it reaches the
pack's floor for that category, so messages the model finds clean skip Python entirely.
`model.c > v` (or `>=`) reads it from v; any other use (`<`, under `not`, an exception)
needs it for every message: floor 0.
"""

from __future__ import annotations

from screener.rules.condition import Node

MODEL = "model"


def _category(node: Node) -> str | None:
    if node.op == "call" and node.args[0] == MODEL and len(node.args) == 2:
        arg = node.args[1]
        return str(arg.args[0]) if arg.op == "name" else None
    return None


def _bound(node: Node) -> tuple[str, float] | None:
    """`model(c) > v` / `>= v` with v > 0 → (c, v): it holds only when p(c) ≥ v."""
    if node.op != "cmp":
        return None
    op, left, right = node.args
    category = _category(left)
    value = right.args[0] if right.op == "const" else None
    if category is None or op not in (">", ">=") or isinstance(value, bool):
        return None
    return (category, float(value)) if isinstance(value, int | float) and value > 0 else None


def model_floors(node: Node, *, always: bool = False) -> dict[str, float]:
    """Per model category a (macro-expanded) condition uses, the lowest probability at which
    it can read it; `always` (exceptions) makes every use floor 0."""
    floors: dict[str, float] = {}

    def walk(n: Node, negated: bool) -> None:
        bound = _bound(n)
        if bound is not None and not negated:
            category, value = bound
            floors[category] = min(floors.get(category, value), value)
            return
        used = _category(n)
        if used is not None:
            floors[used] = 0.0
        for a in n.args:
            if isinstance(a, Node):
                walk(a, negated or n.op == "not")

    walk(node, always)
    return floors

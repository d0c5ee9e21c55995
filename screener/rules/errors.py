"""The one error every stage of reading a pack raises (source, files, spec, compiler)."""

from __future__ import annotations


class PackError(Exception):
    """One or more problems in rule packs, each `file:line: reason`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems

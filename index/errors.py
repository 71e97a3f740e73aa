"""The one exception tree of the index package.

Staff edit plan data by hand, so every problem names the file, the entry
(第2章 › 1 › (3)) and what is wrong, and a run reports all problems at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PlanDataError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.entry}" if self.entry else self.file
        return f"{where}: {self.message}"


class PlanDataError(Exception):
    """The plan data (or thesaurus) cannot be used; `problems` lists every reason."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

"""The root of the product's exception tree, and the index package's errors.

`PlanBotError` is the root here, not in `bot`, so the index stays free of bot imports;
`bot.errors` adds the bot's own errors beneath it. Staff edit plan data by hand, so every
problem names the file, the entry (第2章 › 1 › (3)) and what is wrong, and a run reports
all problems at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PlanBotError", "PlanDataError", "Problem"]


class PlanBotError(Exception):
    """An error the operator can act on: its message says what is wrong and what to do.

    Commands report it as one `Error: …` line instead of a traceback (see `bot.errors`).
    """


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.entry}" if self.entry else self.file
        return f"{where}: {self.message}"


class PlanDataError(PlanBotError):
    """The plan data (or thesaurus) cannot be used; `problems` lists every reason."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

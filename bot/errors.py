"""The bot's errors, beneath the product's root `PlanBotError`, and how commands report them.

Each is something an operator or staff member can fix, so its message says what is wrong
and what to do. Commands built with `ReportingCommand` / `ReportingGroup` turn any
`PlanBotError` into one `Error: …` line and exit status 1, in this one place.
"""

from __future__ import annotations

from typing import Any

import click

from index import PlanBotError, PlanDataError

__all__ = [
    "ConfigError",
    "CurationError",
    "EditError",
    "NoActivePlanError",
    "PlanBotError",
    "PlanDataError",
    "ReindexConflictError",
    "ReportingCommand",
    "ReportingGroup",
    "StaffAccountError",
    "UnknownVersionError",
]


class ConfigError(PlanBotError):
    """A setting in the environment is missing or malformed; the message names it and how to fix it."""


class StaffAccountError(PlanBotError):
    """A staff account cannot be added or removed: taken or unusable name, short password, no such one."""


class NoActivePlanError(PlanBotError):
    """The database has plan versions but none is active; a reindex (or rollback) makes one active."""


class UnknownVersionError(PlanBotError):
    """A rollback named a plan version the database does not hold."""


class ReindexConflictError(PlanBotError):
    """Another reindex stored a version at the same moment; running it again settles it.

    Raised instead of the database's unique-constraint error, which says nothing useful to staff.
    """


class CurationError(PlanBotError):
    """A verdict on an exchange cannot be stored: no such exchange, no measure chosen, an unknown one."""


class EditError(PlanBotError):
    """A change to the plan's search data or metadata cannot be drafted, applied, published or exported;
    the message names the change and the problem."""


class ReportingCommand(click.Command):
    """A command that reports the product's errors as one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlanBotError as error:
            raise click.ClickException(str(error)) from None


class ReportingGroup(ReportingCommand, click.Group):
    """A command group whose commands and subgroups report errors like `ReportingCommand`."""

    command_class = ReportingCommand
    group_class = type  # subgroups are ReportingGroups too

"""The `python -m bot` command group: the product's one entry point.

Commands import the database stack, telegram and the web app only when they run
(and the staff command groups load on first use), so `plan`, `ask` and `evaluate`
stay the quick, scriptable path.
"""

from __future__ import annotations

import datetime as dt
import getpass
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from index import Plan, PlanBundle, PlanDataError, bundled_plan_dir, load_bundle, read_sources
from index.evaluate import evaluate as run_evaluation
from index.evaluate import read_questions

from .answer import render_plain
from .config import Settings, configure_logging
from .errors import NoActivePlanError, ReportingGroup
from .outline import outline_lines, plan_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from .reports import LogFilter

PLAN_DIR = click.Path(file_okay=False, path_type=Path)
# Command groups that live in other modules, imported when first used.
LAZY_GROUPS = {
    "staff": "bot.staff_cli:staff",
    "dashboard": "bot.staff_cli:dashboard",
    **{
        name: f"bot.curation_cli:{name.replace('-', '_')}_command"
        for name in (
            "resolve",
            "reopen",
            "suggest",
            "draft",
            "preview",
            "publish",
            "quality",
            "context",
            "audit",
        )
    },
    "answer-key": "bot.curation_cli:answer_key_command",
}


class _Commands(ReportingGroup):
    """The command group, loading `LAZY_GROUPS` only when asked for (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_GROUPS:
            return super().get_command(ctx, cmd_name)
        module, name = LAZY_GROUPS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


def cli_actor() -> str:
    """Who the audit trail names for a command-line change without --by."""
    return f"cli:{getpass.getuser()}"


def by_option(command: Callable[..., None]) -> Callable[..., None]:
    """`--by NAME`: the name the audit trail records for a change made on the command line."""
    return click.option(
        "--by",
        "actor",
        default=cli_actor,
        help="Name recorded in the audit trail (default: cli:<login name>).",
    )(command)


def _bundle(plan_dir: Path | None) -> PlanBundle:
    try:
        return load_bundle(plan_dir)
    except PlanDataError as error:
        raise click.ClickException(f"the plan data has errors:\n{error}") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Asaka City comprehensive plan bot: answers residents' questions from the plan."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@click.option("--check", "check_dir", type=PLAN_DIR, help="Validate a plan folder and report every error.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def plan(as_json: bool, check_dir: Path | None, plan_dir: Path | None) -> None:
    """Show the plan's outline, print it as JSON, or validate a plan folder.

    Example: python -m bot plan --check plan_data
    """
    if check_dir is not None:
        try:
            bundle = load_bundle(check_dir)
        except PlanDataError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(error.problems)} problem(s) in {check_dir}", err=True)
            sys.exit(1)
        chapters = bundle.plan.chapters
        measures = sum(len(c.measures) for c in chapters)
        middles = sum(1 for _ in bundle.plan.located())
        click.echo(
            f"OK: {check_dir}: {len(chapters)} chapters, {measures} measures, {middles} middle measures, "
            f"{len(bundle.thesaurus.groups)} synonym groups"
        )
        return
    bundle = _bundle(plan_dir)
    if as_json:
        click.echo(json.dumps(plan_json(bundle.plan), ensure_ascii=False, indent=2))
        return
    click.echo(render_plain(outline_lines(bundle.plan)))


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def ask(question: str | None, as_json: bool, plan_dir: Path | None) -> None:
    """Answer one question as a resident would read it; with no QUESTION, read one per line from stdin.

    Example: python -m bot ask --json "保育園が足りない"
    """
    bundle = _bundle(plan_dir)
    questions = [question] if question is not None else (line.rstrip("\n") for line in sys.stdin)
    for text in questions:
        if question is None and not text.strip():
            continue
        result = bundle.index.search(text)
        if as_json or question is None:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            from .console import render_console
            from .conversation import Turn, respond

            # A first message with no conversation before it, as a new resident would see it.
            reply = respond(bundle, Turn("ask", "ask", text=text), None).reply
            click.echo(render_console(replace(reply, rating=False)))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="List every question not answered at rank 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the overall figures as JSON.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def evaluate(file: Path, verbose: bool, as_json: bool, plan_dir: Path | None) -> None:
    """Score answers on labelled questions: hit@1, hit@3, MRR@5 per kind, declines.

    Example: python -m bot evaluate ../shared/eval/dev_questions.jsonl -v
    """
    try:
        questions = read_questions(file)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    report = run_evaluation(_bundle(plan_dir).index, questions)
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    click.echo("\n".join(report.lines(verbose=verbose)))


def _open_sessions() -> sessionmaker[Session]:
    """A session factory for the configured database, migrated when it is the embedded one."""
    from .store import open_database

    settings = Settings.from_env()
    return open_database(settings.database_url, migrate=settings.embedded_database)


def _staff_context() -> tuple[sessionmaker[Session], Plan]:
    """A database session factory and the active plan, for staff commands."""
    from .versions import ActivePlan, ensure_initial_version

    sessions = _open_sessions()
    try:
        ensure_initial_version(sessions)
        plan = ActivePlan.from_database(sessions).bundle.plan
    except (NoActivePlanError, PlanDataError):
        plan = _bundle(None).plan
    return sessions, plan


@cli.command()
def chat() -> None:
    """Chat with the bot in the terminal (answers come from the active plan; exchanges are logged).

    Example: python -m bot chat
    """
    from .console import run_chat
    from .service import PlanService

    service = PlanService.start(Settings.from_env())
    try:
        run_chat(service)
    finally:
        service.close()


@cli.group()
def db() -> None:
    """Database schema commands.

    Example: python -m bot db upgrade
    """


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL (the default SQLite file migrates itself at start-up).

    Example: DATABASE_URL=postgresql+psycopg://planbot@localhost/planbot python -m bot db upgrade
    """
    from .store import upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo(f"database is at the newest schema ({_safe_url(settings.database_url)})")


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _time_option(name: str, *, end: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
        if value is None:
            return None
        try:
            from .reports import parse_time

            return parse_time(value, end_of_day=end)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None

    help_text = (
        "Up to and including this day (YYYY-MM-DD, Japan time)." if end else "From this day (YYYY-MM-DD)."
    )
    return click.option(name, callback=convert, help=help_text)


def _filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """The filters `logs`, `stats` and the dashboard share."""
    for option in reversed(
        (
            _time_option("--since", end=False),
            _time_option("--until", end=True),
            click.option("--unanswered", is_flag=True, help="Only questions the bot declined."),
            click.option("--feedback", type=click.Choice(["up", "down"]), help="Only exchanges rated so."),
            click.option("--measure", help="Only exchanges that showed this measure id (e.g. 2-2-4)."),
            click.option("--chapter", type=int, help="Only exchanges that showed a measure of this chapter."),
            click.option("--search", help="Only questions containing this text."),
            click.option(
                "--version", "plan_version", type=int, help="Only exchanges answered by this plan version."
            ),
            click.option("--channel", help="Only exchanges from this channel: telegram, web or console."),
        )
    ):
        command = option(command)
    return command


def _log_filter(plan_version: int | None = None, **options: Any) -> LogFilter:
    """`_filter_options`' values, as click passes them, into the filter they describe."""
    from .reports import CHANNELS, LogFilter

    if options.get("channel") not in (None, *CHANNELS):
        raise click.BadParameter(f"choose one of {', '.join(CHANNELS)}", param_hint="'--channel'")
    return LogFilter(version=plan_version, **options)


@cli.group(invoke_without_command=True)
@_filter_options
@click.option("--limit", default=50, show_default=True, help="How many exchanges to show.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
def logs(ctx: click.Context, limit: int, fmt: str, **options: Any) -> None:
    """Show recent exchanges (newest first), filtered; CSV opens in Excel.

    Example: python -m bot logs --unanswered --since 2026-11-01 --format csv > unanswered.csv
    """
    if ctx.invoked_subcommand is not None:
        return
    from .reports import list_exchanges, rows_to_csv
    from .tables import render_table

    sessions, plan = _staff_context()
    with sessions() as session:
        rows = list_exchanges(session, _log_filter(**options), plan, limit=limit)
    if fmt == "csv":
        click.echo(rows_to_csv(rows), nl=False)
    elif fmt == "json":
        click.echo(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2))
    else:
        click.echo(render_table(rows))


@logs.command("purge")
@click.option("--older-than", "days", type=click.IntRange(min=1), help="Retention in days.")
@click.option("--exchange", "exchange_id", type=click.IntRange(1, 2**31 - 1), help="One exchange, by its id.")
@click.option("--yes", is_flag=True, help="Delete; without it, only count (dry run).")
def logs_purge(days: int | None, exchange_id: int | None, yes: bool) -> None:
    """Delete exchanges older than the retention period, or one exchange (dry run unless --yes).

    Example: python -m bot logs purge --older-than 365 --yes
    """
    if (days is None) == (exchange_id is None):
        raise click.UsageError("give one of --older-than or --exchange")
    from .reports import delete_exchange, purge
    from .store import Exchange

    sessions, _plan = _staff_context()
    verb = "deleted" if yes else "would delete (dry run; add --yes to delete)"
    with sessions() as session, session.begin():
        if exchange_id is not None:
            if session.get(Exchange, exchange_id) is None:
                raise click.ClickException(
                    f"there is no exchange {exchange_id} (ids are in: logs --format json)"
                )
            if yes:
                delete_exchange(session, exchange_id)
            click.echo(f"{verb} exchange {exchange_id} with its feedback")
            return
        assert days is not None
        count = purge(session, days, execute=yes)
    click.echo(f"{verb} {count} exchange(s) older than {days} days")


@cli.command()
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats(as_json: bool, **options: Any) -> None:
    """Exchanges per day, answered rate, feedback, top measures/chapters, words of unanswered questions.

    Example: python -m bot stats --since 2026-11-01
    """
    from .reports import compute_stats
    from .tables import render_stats

    sessions, plan = _staff_context()
    with sessions() as session:
        figures = compute_stats(session, _log_filter(**options), plan)
    if as_json:
        click.echo(json.dumps(figures.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_stats(figures))


@cli.command("reindex")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder to index (default: the bundled plan_data/).")
@click.option("--dry-run", is_flag=True, help="Validate and show the changes; store nothing.")
@click.option("--label", default="", help="A note for this version, e.g. 素案 2025-06.")
@click.option("--activate", "activate_id", type=int, help="Make an earlier version active again (rollback).")
@by_option
def reindex_command(
    plan_dir: Path | None, dry_run: bool, label: str, activate_id: int | None, actor: str
) -> None:
    """Validate the plan data and thesaurus, show what changed, store and activate the new version.

    Running bots switch to it within seconds. Invalid data changes nothing: the active version keeps serving.

    Example: python -m bot reindex --plan-dir plan_data --label "素案"
    """
    from . import audit
    from .publish import rollback
    from .versions import reindex

    sessions = _open_sessions()  # on a new database these sources, not the bundled ones, become version 1
    if activate_id is not None:
        try:
            version = rollback(sessions, activate_id, actor)
        except PlanDataError as error:
            raise click.ClickException(f"version {activate_id} cannot be loaded:\n{error}") from None
        click.echo(f"version {version.id} ({version.label}) is now active")
        return
    try:
        outcome = reindex(
            sessions,
            read_sources(plan_dir or bundled_plan_dir()),
            label=label,
            dry_run=dry_run,
            author=actor,
        )
    except PlanDataError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo(
            f"{len(error.problems)} problem(s): nothing was stored; the active version keeps serving",
            err=True,
        )
        sys.exit(1)
    if outcome.identical:
        click.echo("no changes: the plan data is identical to the active version; nothing stored")
        return
    if outcome.first:
        click.echo("no plan version is active yet: nothing to compare with")
    else:
        click.echo(f"{len(outcome.changes)} change(s) against the active version:")
    for change in outcome.changes:
        click.echo(f"  {change}")
    if outcome.version_id is None:
        click.echo("dry run: nothing stored")
        return
    with sessions() as session, session.begin():
        audit.record(
            session,
            actor,
            "publish",
            f"version {outcome.version_id}",
            label=label,
            folder=str(plan_dir or bundled_plan_dir()),
            reactivated=outcome.reactivated,
            changes=[str(change) for change in outcome.changes],
        )
    if outcome.reactivated:
        click.echo(
            f"same content as version {outcome.version_id}: nothing stored, version {outcome.version_id} "
            "is active again; running bots switch within seconds"
        )
    else:
        click.echo(
            f"stored as version {outcome.version_id} and activated; running bots switch within seconds"
        )


@cli.group("versions", invoke_without_command=True)
@click.pass_context
def versions_command(ctx: click.Context) -> None:
    """List plan versions, newest first; the active one is marked with *.

    Says when the active version differs from the bundled plan_data/, with the command to export it.

    Example: python -m bot versions
    """
    if ctx.invoked_subcommand is not None:
        return
    from .publish import bundled_matches
    from .reports import LOCAL_TZ
    from .versions import ActivePlan, list_versions

    sessions, _plan = _staff_context()
    with sessions() as session:
        rows = list_versions(session)
    for version in rows:
        mark = "*" if version.active else " "
        created = version.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        author = f"[{version.author}] " if version.author else ""
        click.echo(f"{mark} {version.id:>3}  {created}  {version.digest[:12]}  {author}{version.label}")
    active = ActivePlan.from_database(sessions)
    if active.version_id is not None and not bundled_matches(active.bundle):
        click.echo(
            f"the active version differs from the bundled plan_data/: "
            f"python -m bot versions export {active.version_id} plan_data"
        )


@versions_command.command("export")
@click.argument("version_id", type=int)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@by_option
def versions_export(version_id: int, directory: Path, actor: str) -> None:
    """Write plan version N as plan data files into DIR (the bundled plan_data/ format).

    `reindex --plan-dir DIR` on the result finds no change. To keep the repository in step:

    Example: python -m bot versions export 3 plan_data
    """
    from .publish import export_version

    sessions, _plan = _staff_context()
    names = export_version(sessions, version_id, directory, actor)
    click.echo(f"wrote version {version_id} to {directory}: {', '.join(names)}")


def _telegram_settings() -> Settings:
    """Settings for the commands that talk to Telegram, which cannot start without a token."""
    settings = Settings.from_env()
    if not settings.telegram_token:
        click.echo(
            "Error: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather; see README: Operators)", err=True
        )
        sys.exit(2)
    return settings


@cli.command()
def run() -> None:
    """Run the Telegram bot with long polling (the Procfile's worker).

    Example: TELEGRAM_BOT_TOKEN=123:ABC python -m bot run
    """
    settings = _telegram_settings()
    configure_logging()
    from telegram import Update

    from .service import PlanService
    from .telegram import build_application

    service = PlanService.start(settings)
    try:
        application = build_application(settings, service)
        # run_polling stops cleanly on SIGINT, SIGTERM and SIGABRT.
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    finally:
        service.close()


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")
def serve(host: str) -> None:
    """Run the web process on $PORT: Telegram webhook, /healthz, staff pages, web chat (Procfile's web).

    Example: TELEGRAM_BOT_TOKEN=123:ABC WEBHOOK_URL=https://bot.example.jp PORT=8000 python -m bot serve
    """
    settings = _telegram_settings()
    configure_logging()
    import uvicorn

    from .service import PlanService
    from .web import create_app

    uvicorn.run(create_app(PlanService.start(settings)), host=host, port=settings.port, log_config=None)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port.")
def web(host: str, port: int) -> None:
    """Serve the residents' web chat (and the staff pages) without Telegram, at http://HOST:PORT/.

    Example: python -m bot web --port 8000
    """
    settings = Settings.from_env()
    configure_logging()
    import uvicorn

    from .service import PlanService
    from .webchat import create_web_app

    click.echo(f"web chat: http://{host}:{port}/   staff pages: http://{host}:{port}/staff/", err=True)
    uvicorn.run(create_web_app(PlanService.start(settings)), host=host, port=port, log_config=None)


def main() -> None:
    cli(prog_name="python -m bot")

"""`python -m bot resolve|reopen|suggest|draft|preview|publish|quality|context|audit|answer-key`: improving
answers from the command line, the same operations the dashboard's pages call (loaded lazily by
`bot.cli`; `versions export` lives there with the other version commands).

Every change is recorded in the audit trail under `--by` (default: cli:<login name>), since the
command line has no staff login. The product's errors (a verdict or change that cannot be
stored) reach staff as one line through `bot.errors.ReportingGroup`, the group these commands join.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from sqlalchemy.orm import Session, sessionmaker

from index import PlanDataError

from . import audit
from .cli import by_option
from .config import Settings
from .curation import (
    MEASURES,
    OUT_OF_SCOPE,
    SPAM,
    Verdict,
    answer_key,
    answer_key_jsonl,
    context,
    reopen,
    resolve,
    verdicts,
)
from .drafts import (
    FIELD_KINDS,
    KEYWORD_ADD,
    KEYWORD_REMOVE,
    SYNONYM_ADD,
    SYNONYM_REMOVE,
    Draft,
    Edit,
    add_edit,
    build_candidate,
    discard_edit,
    pending_edits,
    reject_edit,
    rejected_edits,
)
from .errors import EditError
from .preview import preview as run_preview
from .publish import active_bundle, publish
from .quality import quality_by_version
from .redact import without_personal
from .reports import LOCAL_TZ, parse_time
from .store import Exchange, open_database
from .suggest import suggest as run_suggest
from .versions import ensure_initial_version

__all__ = [
    "answer_key_command",
    "audit_command",
    "context_command",
    "draft_command",
    "preview_command",
    "publish_command",
    "quality_command",
    "reopen_command",
    "resolve_command",
    "suggest_command",
]


def _sessions() -> sessionmaker[Session]:
    settings = Settings.from_env()
    sessions = open_database(settings.database_url, migrate=settings.embedded_database)
    ensure_initial_version(sessions)
    return sessions


def _draft(sessions: sessionmaker[Session]) -> Draft:
    with sessions() as session:
        edits = pending_edits(session)
    try:
        return build_candidate(active_bundle(sessions), edits)
    except (EditError, PlanDataError) as error:
        raise click.ClickException(f"the draft does not build a valid plan:\n{error}") from None


@click.command("resolve")
@click.argument("exchange_ids", nargs=-1, type=int, required=True)
@click.option("--measure", "measures", multiple=True, help="A measure id that answers it (repeatable).")
@click.option("--out-of-scope", is_flag=True, help="計画の対象外: the plan does not cover it.")
@click.option("--spam", is_flag=True, help="いたずら・スパム: left out of statistics and the answer key.")
@by_option
def resolve_command(
    exchange_ids: tuple[int, ...], measures: tuple[str, ...], out_of_scope: bool, spam: bool, actor: str
) -> None:
    """Resolve exchanges (ids from `logs`): the measures that answer them, out of scope, or spam.

    Each measure or out-of-scope verdict joins the city's answer key; resolved exchanges leave the inbox.

    Example: python -m bot resolve 12 15 --measure 4-1-2
    """
    chosen = [
        kind for kind, on in ((MEASURES, bool(measures)), (OUT_OF_SCOPE, out_of_scope), (SPAM, spam)) if on
    ]
    if len(chosen) != 1:
        raise click.UsageError("give --measure (one or more), or --out-of-scope, or --spam")
    sessions = _sessions()
    plan = active_bundle(sessions).plan
    with sessions() as session, session.begin():
        stored = resolve(session, list(exchange_ids), Verdict(chosen[0], measures), actor, plan)
    for item in stored:
        click.echo(f"resolved {item.exchange_id}: {item.verdict.label}  {item.question}")


@click.command("reopen")
@click.argument("exchange_ids", nargs=-1, type=int, required=True)
@by_option
def reopen_command(exchange_ids: tuple[int, ...], actor: str) -> None:
    """Undo the verdicts on exchanges: they return to the inbox and leave the answer key.

    Example: python -m bot reopen 12
    """
    with _sessions()() as session, session.begin():
        count = reopen(session, list(exchange_ids), actor)
    click.echo(f"reopened {count} exchange(s)")


@click.command("answer-key")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@by_option
def answer_key_command(output: Path | None, actor: str) -> None:
    """Export the city's answer key (resolved questions) as JSONL for `evaluate`.

    Example: python -m bot answer-key -o answer_key.jsonl && python -m bot evaluate answer_key.jsonl
    """
    with _sessions()() as session, session.begin():
        questions = answer_key(session)
        audit.record(
            session, actor, "export", "answer key", questions=len(questions), file=str(output or "-")
        )
    text = answer_key_jsonl(questions)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(questions)} labelled question(s) to {output}", err=True)


@click.command("suggest")
@click.argument("exchange_id", type=int)
@click.option("--measure", help="The measure to be found (default: the exchange's resolution).")
@click.option("--accept", type=int, help="Add suggestion N (as listed) to the draft.")
@click.option("--reject", type=int, help="Turn suggestion N down: it is not suggested again.")
@by_option
def suggest_command(
    exchange_id: int, measure: str | None, accept: int | None, reject: int | None, actor: str
) -> None:
    """Suggest the smallest change that makes the search find a resolved exchange's measure.

    Each suggestion is tried on the plan with the draft applied and shows where the measure would rank.

    Example: python -m bot suggest 12 --accept 1
    """
    sessions = _sessions()
    with sessions() as session:
        exchange = session.get(Exchange, exchange_id)
        if exchange is None:
            raise click.ClickException(f"no such exchange: {exchange_id}")
        if measure is None:
            resolution = verdicts(session, [exchange_id]).get(exchange_id)
            if resolution is None or resolution.verdict.kind != MEASURES:
                raise click.ClickException(
                    f"exchange {exchange_id} is not resolved to a measure: give --measure"
                )
            measure = resolution.verdict.measures[0]
        rejected = rejected_edits(session)
        question = without_personal(exchange.question)
    draft = _draft(sessions)
    try:
        found = run_suggest(draft.candidate, question, measure, rejected=rejected)
    except KeyError:
        raise click.ClickException(f"the plan has no measure '{measure}'") from None
    before = f"rank {found.rank_before}" if found.rank_before else "not shown"
    click.echo(f"{question} → {measure}: today {before}; missing words: {', '.join(found.missing) or '-'}")
    if found.already_found:
        click.echo("the search already answers it with this measure first: nothing to change")
    for number, item in enumerate(found.suggestions, start=1):
        after = f"rank {item.rank_after}" if item.rank_after else "still not shown"
        click.echo(f"  {number}. {item.edit.describe()}  → {after}")
    chosen = accept or reject
    if chosen is None:
        return
    if not 1 <= chosen <= len(found.suggestions):
        raise click.ClickException(f"there is no suggestion {chosen}")
    edit = found.suggestions[chosen - 1].edit
    with sessions() as session, session.begin():
        if accept is not None:
            _add(session, draft, edit, actor, exchange_id)
            click.echo(f"added to the draft: {edit.describe()}")
        else:
            reject_edit(session, edit, actor, exchange_id=exchange_id)
            click.echo(f"rejected: {edit.describe()}")


def _add(session: Session, draft: Draft, edit: Edit, actor: str, exchange_id: int | None = None) -> None:
    try:
        add_edit(session, draft.base, edit, actor, exchange_id=exchange_id)
    except (EditError, PlanDataError) as error:
        raise click.ClickException(f"not added: {error}") from None


@click.group("draft", invoke_without_command=True)
@click.pass_context
def draft_command(ctx: click.Context) -> None:
    """The draft: pending changes to the thesaurus, keywords and metadata (listed without a subcommand).

    Example: python -m bot draft synonym 低炭素 グリーンカーテン
    """
    if ctx.invoked_subcommand is not None:
        return
    with _sessions()() as session:
        edits = pending_edits(session)
    if not edits:
        click.echo("the draft is empty")
    for stored in edits:
        when = stored.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{stored.id:>4}  {when}  {stored.staff_name:<12}  {stored.edit.describe()}")


def _draft_edit(edit: Edit, actor: str) -> None:
    sessions = _sessions()
    draft = _draft(sessions)
    with sessions() as session, session.begin():
        _add(session, draft, edit, actor)
    click.echo(f"added to the draft: {edit.describe()}")


@draft_command.command("synonym")
@click.argument("plan_word")
@click.argument("word")
@click.option("--remove", is_flag=True, help="Remove the resident word instead.")
@by_option
def draft_synonym(plan_word: str, word: str, remove: bool, actor: str) -> None:
    """Add a resident WORD under PLAN_WORD (a word the plan uses), or remove it.

    Example: python -m bot draft synonym 低炭素 グリーンカーテン
    """
    _draft_edit(Edit(SYNONYM_REMOVE if remove else SYNONYM_ADD, plan_word, word), actor)


@draft_command.command("keyword")
@click.argument("measure_id")
@click.argument("word")
@click.option("--remove", is_flag=True, help="Remove the keyword instead.")
@by_option
def draft_keyword(measure_id: str, word: str, remove: bool, actor: str) -> None:
    """Add a search keyword to a middle measure (never shown to residents), or remove it.

    Example: python -m bot draft keyword 4-1-2 グリーンカーテン
    """
    _draft_edit(Edit(KEYWORD_REMOVE if remove else KEYWORD_ADD, measure_id, word), actor)


@draft_command.command("set")
@click.argument("part")
@click.argument("field", type=click.Choice(FIELD_KINDS))
@click.argument("value", required=False)
@click.option("--phone", help="With contact: the department's phone, e.g. 048-463-1111.")
@click.option("--clear", is_flag=True, help="Remove the field.")
@by_option
def draft_set(part: str, field: str, value: str | None, phone: str | None, clear: bool, actor: str) -> None:
    """Set url, contact or title_en of a chapter (2), measure (2-2) or middle measure (2-2-4).

    Example: python -m bot draft set 2-2-4 contact 保育課 --phone 048-463-1111
    """
    if clear:
        _draft_edit(Edit(field, part, None), actor)
        return
    if not value:
        raise click.UsageError("give a VALUE (or --clear)")
    content: str | dict[str, str] = value
    if field == "contact":
        content = {"name": value, **({"phone": phone} if phone else {})}
    _draft_edit(Edit(field, part, content), actor)


@draft_command.command("discard")
@click.argument("edit_id", type=int)
@by_option
def draft_discard(edit_id: int, actor: str) -> None:
    """Take a change (its number in `draft`) out of the draft.

    Example: python -m bot draft discard 3
    """
    with _sessions()() as session, session.begin():
        discard_edit(session, edit_id, actor)
    click.echo(f"discarded change {edit_id}")


def _pair(before: float, after: float) -> str:
    return f"{before:.3f} → {after:.3f}"


@click.command("preview")
@click.option("--json", "as_json", is_flag=True, help="Print the figures and changes as JSON.")
def preview_command(as_json: bool) -> None:
    """Show what publishing the draft would change, before → after: resolved questions, answer
    quality on the labelled questions and the city's answer key, and changed answers among the
    last 1,000 logged questions. Warns when accuracy drops (exit status 3 then).

    Example: python -m bot preview
    """
    sessions = _sessions()
    draft = _draft(sessions)
    with sessions() as session:
        result = run_preview(session, draft.base, draft.candidate)
    warnings = result.warnings
    if as_json:
        click.echo(
            json.dumps(
                {
                    "edits": [stored.edit.as_json() for stored in draft.edits],
                    "resolved": [
                        {
                            "q": p.item.question,
                            "verdict": p.item.verdict.label,
                            "before": p.before.label,
                            "after": p.after.label,
                        }
                        for p in result.resolved
                    ],
                    "quality": {
                        q.name: {"before": q.before.as_json(), "after": q.after.as_json()}
                        for q in result.quality
                    },
                    "changed": [
                        {"q": c.question, "asked": c.asked, "before": c.before.label, "after": c.after.label}
                        for c in result.changed
                    ],
                    "recent": result.recent,
                    "warnings": warnings,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo(f"{len(draft.edits)} change(s) in the draft:")
        for stored in draft.edits:
            click.echo(f"  {stored.edit.describe()}")
        click.echo("\nresolved questions (before → after):")
        for p in result.resolved:
            mark = "+" if p.fixed else "-" if p.broken else " "
            click.echo(
                f" {mark} {p.item.question}  [{p.item.verdict.label}]  {p.before.label} → {p.after.label}"
            )
        click.echo("\nanswer quality (before → after):")
        for q in result.quality:
            parts = [f"{q.name}: {q.before.answerable} answerable, {q.before.out_of_scope} out of scope"]
            if q.before.answerable:
                parts.append(f"hit@1 {_pair(q.before.hit1, q.after.hit1)}")
                parts.append(f"hit@3 {_pair(q.before.hit3, q.after.hit3)}")
            if q.before.out_of_scope:
                handled = _pair(q.before.out_of_scope_handled, q.after.out_of_scope_handled)
                parts.append(f"out-of-scope handled {handled}")
            click.echo("  " + "  ".join(parts))
        click.echo(
            f"\nchanged answers among the last {result.recent} distinct logged questions: "
            f"{len(result.changed)}"
        )
        for c in result.changed:
            click.echo(f"  {c.question} (×{c.asked})  {c.before.label} → {c.after.label}")
        for warning in warnings:
            click.echo(f"WARNING: {warning}", err=True)
    if warnings:
        raise SystemExit(3)


@click.command("publish")
@click.option("--label", default="", help="A note for the new version (default: 公開 and the time).")
@by_option
def publish_command(label: str, actor: str) -> None:
    """Publish the draft as a new plan version, validated like `reindex`; running bots switch within seconds.

    Example: python -m bot publish --label "グリーンカーテンを追加"
    """
    try:
        published = publish(_sessions(), actor, label)
    except (EditError, PlanDataError) as error:
        raise click.ClickException(f"nothing was published: {error}") from None
    for change in published.changes:
        click.echo(f"  {change}")
    click.echo(
        f"published {published.edits} change(s) as version {published.version_id}; "
        "running bots switch within seconds"
    )


@click.command("context")
@click.argument("exchange_id", type=int)
def context_command(exchange_id: int) -> None:
    """The same resident's exchanges within ±30 minutes of one exchange (their rephrasings).

    Example: python -m bot context 12
    """
    with _sessions()() as session:
        rows = context(session, exchange_id)
    for row in rows:
        mark = ">" if row.current else " "
        shown = " ".join(row.shown[:3]) if row.answered else "回答なし"
        when = row.local_time
        click.echo(f"{mark} {row.id:>6}  {when}  {shown:<18}  {row.question}")


def _time(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, end_of_day=param.name == "until")
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command("audit")
@click.option("--staff", help="Only this staff name (cli:NAME for the command line).")
@click.option("--action", type=click.Choice(audit.ACTIONS), help="Only this kind of action.")
@click.option("--target", help="Only this target, e.g. 'exchange 12' or 'version 3'.")
@click.option("--since", callback=_time, help="From this day (YYYY-MM-DD, Japan time).")
@click.option("--until", callback=_time, help="Up to and including this day.")
@click.option("--limit", default=100, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
def audit_command(
    staff: str | None,
    action: str | None,
    target: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """The audit trail: every resolution, edit, publish, rollback and export, newest first.

    Example: python -m bot audit --action publish --since 2026-11-01
    """
    event_filter = audit.AuditFilter(staff, action, target, since, until)
    with _sessions()() as session:
        rows = audit.list_events(session, event_filter, limit=limit)
    if as_json:
        click.echo(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no audit events match")
    for row in rows:
        when = row.local_time
        details = json.dumps(row.details, ensure_ascii=False)
        click.echo(f"{when}  {row.staff_name:<14}  {row.action:<8}  {row.target:<14}  {details}")


@click.command("quality")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def quality_command(as_json: bool) -> None:
    """Answer quality of every plan version on today's answer key and the shipped labelled questions.

    Example: python -m bot quality
    """
    with _sessions()() as session:
        rows = quality_by_version(session)
    if as_json:
        click.echo(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2))
        return
    for row in rows:
        mark = "*" if row.active else " "
        figures = [
            f"{name} hit@1 {f.hit1:.3f} hit@3 {f.hit3:.3f} (n={f.answerable})"
            for name, f in (("answer key", row.answer_key), ("shipped", row.shipped))
            if f is not None
        ]
        click.echo(f"{mark} {row.version_id:>3}  {row.label}  " + ("  ".join(figures) or "-"))

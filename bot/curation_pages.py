"""The staff pages for improving answers: resolve, suggestions, the draft, preview, publish,
versions and rollback, quality over time, context and the audit trail.

Handlers only read forms and render: the work is done by the modules the command line
uses too (`curation`, `suggest`, `drafts`, `preview`, `publish`, `quality`, `audit`).
Every page and POST goes through `staff_only` (sign-in and CSRF); every change through
`editors_only` as well (viewers get 403). The pages run without scripts: selecting a
whole word group is a link that opens the resolve form with all of its questions ticked,
and a rollback asks on a page of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from index import PlanBundle, PlanDataError

from . import audit
from .charts import column_chart
from .curation import (
    MEASURES,
    Verdict,
    answer_key,
    answer_key_jsonl,
    context,
    find_measures,
    reopen,
    resolve,
    verdicts,
)
from .drafts import (
    FIELD_KINDS,
    KINDS,
    Draft,
    Edit,
    add_edit,
    build_candidate,
    discard_edit,
    pending_edits,
    reject_edit,
    rejected_edits,
)
from .errors import CurationError, EditError, UnknownVersionError
from .filters import MAX_NUMBER
from .preview import preview
from .publish import bundled_matches, publish, rollback, version_changes
from .quality import quality_by_version
from .reports import LOCAL_TZ, ExchangeRow, RankedMeasure, find_exchange, parse_time
from .roles import EDITOR, editors_only
from .service import PlanService
from .staff_http import StaffPages, Visit, staff_only
from .store import PlanVersion
from .suggest import suggest
from .versions import list_versions

__all__ = ["CurationPages", "curation_routes"]

logger = logging.getLogger(__name__)

MAX_SELECTED = 500  # questions resolved at once: a word group of the inbox, at most
MAX_CANDIDATES = 10  # search candidates offered on the resolve form
KIND_LABELS = {
    "synonym_add": "類義語を追加",
    "synonym_remove": "類義語を削除",
    "keyword_add": "検索キーワードを追加",
    "keyword_remove": "検索キーワードを削除",
    "url": "ページのURL",
    "contact": "問い合わせ先",
    "title_en": "英語の名称",
}


def _ids(values: Sequence[str]) -> list[int]:
    """Exchange ids from a query string or form; 400 for anything else."""
    ids = []
    for value in values[:MAX_SELECTED]:
        if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_NUMBER:
            raise HTTPException(400)
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def _text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _candidates(rows: Sequence[ExchangeRow]) -> list[RankedMeasure]:
    """The search's candidates for the questions being resolved, each measure once: those most of
    the questions had first, then by their best rank (one question: its ranking as it was)."""
    counts: Counter[str] = Counter()
    best: dict[str, RankedMeasure] = {}
    for row in rows:
        for hit in row.candidates:
            counts[hit.measure_id] += 1
            if hit.measure_id not in best or hit.rank < best[hit.measure_id].rank:
                best[hit.measure_id] = hit
    ranked = sorted(best.values(), key=lambda hit: (-counts[hit.measure_id], hit.rank))
    return ranked[:MAX_CANDIDATES]


class CurationPages(StaffPages):
    """Handlers of the improving-answers pages."""

    @property
    def bundle(self) -> PlanBundle:
        return self.service.active.bundle

    def _editor(self, visit: Visit) -> bool:
        return visit.signed_in.role == EDITOR

    def _draft(self) -> tuple[Draft | None, str]:
        """The draft built on the active version, or None and why it does not build."""
        with self.service.sessions() as session:
            edits = pending_edits(session)
        try:
            return build_candidate(self.bundle, edits), ""
        except (EditError, PlanDataError) as error:
            return None, str(error)

    # --- resolve

    @staff_only
    def resolve_form(self, visit: Visit) -> Response:
        """The questions to resolve (ticked), a measure search, and every measure by chapter."""
        params = visit.request.query_params
        ids = _ids(params.getlist("id"))
        query = params.get("q", "").strip()[:200]
        with self.service.sessions() as session:
            rows = [row for i in ids if (row := find_exchange(session, i, self.plan)) is not None]
            labels = {i: item.verdict.label for i, item in verdicts(session, ids).items()}
        if not rows:
            return self.message(visit.request, 404, "見つかりません", "解決する質問が見つかりませんでした。")
        found = find_measures(self.bundle, query) if query else []
        return self.render(
            visit.request,
            "resolve.html",
            visit.staff,
            active="staff_inbox",
            rows=rows,
            verdicts=labels,
            query=query,
            found=found,
            candidates=_candidates(rows),
            chapters=self.plan.chapters,
            editor=self._editor(visit),
        )

    @staff_only
    @editors_only
    def resolve(self, visit: Visit) -> Response:
        assert visit.form is not None
        ids = _ids([str(v) for v in visit.form.getlist("id")])
        kind = _text(visit.form, "verdict")
        measures = tuple(dict.fromkeys(str(m) for m in visit.form.getlist("measure")))
        verdict = Verdict(kind, measures if kind == MEASURES else ())
        try:
            with self.service.sessions() as session, session.begin():
                stored = resolve(session, ids, verdict, visit.staff, self.plan)
        except CurationError as error:
            return self.message(visit.request, 400, "解決できませんでした", str(error))
        logger.info("staff %s resolved %d exchange(s): %s", visit.staff, len(stored), verdict.label)
        if verdict.kind == MEASURES and stored[0].exchange_id is not None:
            return self.redirect(visit.request, "staff_suggest", exchange_id=stored[0].exchange_id)
        return self.redirect(visit.request, "staff_inbox")

    @staff_only
    @editors_only
    def reopen(self, visit: Visit) -> Response:
        exchange_id = self.exchange_id(visit.request)
        with self.service.sessions() as session, session.begin():
            reopen(session, [exchange_id], visit.staff)
        return self.redirect(visit.request, "staff_inbox")

    @staff_only
    def context(self, visit: Visit) -> Response:
        """The same resident's exchanges within ±30 minutes (their rephrasings), and the search's
        candidates for this one."""
        exchange_id = self.exchange_id(visit.request)
        with self.service.sessions() as session:
            try:
                rows = context(session, exchange_id)
            except CurationError:
                return self.message(visit.request, 404, "見つかりません", "この質問は見つかりませんでした。")
            current = find_exchange(session, exchange_id, self.plan)
        return self.render(
            visit.request, "context.html", visit.staff, rows=rows, exchange_id=exchange_id, current=current
        )

    # --- suggestions

    @staff_only
    def suggestions(self, visit: Visit) -> Response:
        """For a question resolved to measures: the smallest changes that make the search find them."""
        exchange_id = self.exchange_id(visit.request)
        with self.service.sessions() as session:
            resolution = verdicts(session, [exchange_id]).get(exchange_id)
            rejected = rejected_edits(session)
        if resolution is None or resolution.verdict.kind != MEASURES:
            text = "この質問は施策に解決されていません。先に解決してください。"
            return self.message(visit.request, 404, "提案はありません", text)
        draft, problem = self._draft()
        if draft is None:
            return self.message(visit.request, 409, "下書きに問題があります", problem)
        found = []
        for measure_id in resolution.verdict.measures:
            try:
                found.append(suggest(draft.candidate, resolution.question, measure_id, rejected=rejected))
            except KeyError:  # the measure left the plan since it was chosen
                continue
        return self.render(
            visit.request,
            "suggest.html",
            visit.staff,
            active="staff_draft",
            exchange_id=exchange_id,
            question=resolution.question,
            found=found,
            kind_labels=KIND_LABELS,
            editor=self._editor(visit),
        )

    @staff_only
    @editors_only
    def suggestion(self, visit: Visit) -> Response:
        """Accept a suggestion as it is or edited (action=accept), or turn it down (action=reject)."""
        assert visit.form is not None
        exchange_id = self.exchange_id(visit.request)
        edit = Edit(_text(visit.form, "kind"), _text(visit.form, "target"), _text(visit.form, "value"))
        try:
            with self.service.sessions() as session, session.begin():
                if _text(visit.form, "action") == "reject":
                    reject_edit(session, edit, visit.staff, exchange_id=exchange_id)
                else:
                    add_edit(session, self.bundle, edit, visit.staff, exchange_id=exchange_id)
        except (EditError, PlanDataError) as error:
            return self.message(visit.request, 400, "下書きに追加できませんでした", str(error))
        return self.redirect(visit.request, "staff_suggest", exchange_id=exchange_id)

    # --- the draft and metadata

    @staff_only
    def draft(self, visit: Visit) -> Response:
        """Pending changes, forms for new ones, and a part's metadata (?part=2-2-4) ready to edit."""
        part = visit.request.query_params.get("part", "").strip()[:20]
        with self.service.sessions() as session:
            edits = pending_edits(session)
        current = self._part(part) if part else None
        if part and current is None:
            raise HTTPException(404)
        _draft, problem = self._draft()
        return self.render(
            visit.request,
            "draft.html",
            visit.staff,
            active="staff_draft",
            edits=edits,
            problem=problem,
            part=part,
            current=current,
            chapters=self.plan.chapters,
            kinds=[k for k in KINDS if k not in FIELD_KINDS],
            kind_labels=KIND_LABELS,
            editor=self._editor(visit),
        )

    def _part(self, part: str) -> object | None:
        """The chapter, major measure or middle measure `part` names in the active plan."""
        numbers = part.split("-")
        if not all(n.isdigit() for n in numbers) or not 1 <= len(numbers) <= 3:
            return None
        try:
            chapter = self.plan.chapter(int(numbers[0]))
            if len(numbers) == 1:
                return chapter
            measure = chapter.measures[int(numbers[1]) - 1]
            return measure if len(numbers) == 2 else measure.middles[int(numbers[2]) - 1]
        except (KeyError, IndexError):
            return None

    @staff_only
    @editors_only
    def change_draft(self, visit: Visit) -> Response:
        """Add a change (action=add) or take one out (action=discard)."""
        form = visit.form
        assert form is not None
        try:
            with self.service.sessions() as session, session.begin():
                if _text(form, "action") == "discard":
                    edit_id = _ids([_text(form, "edit_id")])[0]
                    discard_edit(session, edit_id, visit.staff)
                else:
                    add_edit(session, self.bundle, self._edit(form), visit.staff)
        except (EditError, PlanDataError) as error:
            return self.message(visit.request, 400, "下書きを変更できませんでした", str(error))
        return self.redirect(visit.request, "staff_draft")

    def _edit(self, form: FormData) -> Edit:
        kind, target = _text(form, "kind"), _text(form, "target")
        if kind not in FIELD_KINDS:
            return Edit(kind, target, _text(form, "value"))
        if form.get("clear"):
            return Edit(kind, target, None)
        value = _text(form, "value")
        if kind == "contact":
            phone = _text(form, "phone")
            return Edit(kind, target, {"name": value, **({"phone": phone} if phone else {})})
        return Edit(kind, target, value)

    # --- preview and publish

    @staff_only
    def preview(self, visit: Visit) -> Response:
        draft, problem = self._draft()
        if draft is None:
            return self.message(visit.request, 409, "下書きに問題があります", problem)
        with self.service.sessions() as session:
            result = preview(session, draft.base, draft.candidate)
        return self.render(
            visit.request,
            "preview.html",
            visit.staff,
            active="staff_draft",
            draft=draft,
            result=result,
            editor=self._editor(visit),
        )

    @staff_only
    @editors_only
    def publish(self, visit: Visit) -> Response:
        assert visit.form is not None
        try:
            published = publish(self.service.sessions, visit.staff, _text(visit.form, "label", 200))
        except (EditError, PlanDataError) as error:
            return self.message(visit.request, 400, "公開できませんでした", str(error))
        logger.info("staff %s published plan version %d", visit.staff, published.version_id)
        self.service.active.refresh()
        return self.redirect(visit.request, "staff_versions")

    # --- versions

    @staff_only
    def versions(self, visit: Visit) -> Response:
        with self.service.sessions() as session:
            versions = list_versions(session)
            changes = {v.id: version_changes(session, v.id) for v in versions}
        active = next((v for v in versions if v.active), None)
        in_step = active is None or bundled_matches(self.bundle)
        return self.render(
            visit.request,
            "versions.html",
            visit.staff,
            active="staff_versions",
            versions=versions,
            changes=changes,
            active_version=active,
            in_step=in_step,
            tz=LOCAL_TZ,
            editor=self._editor(visit),
        )

    def _version(self, visit: Visit) -> PlanVersion:
        version_id: int = visit.request.path_params["version_id"]
        with self.service.sessions() as session:
            version = session.get(PlanVersion, version_id) if 0 < version_id <= MAX_NUMBER else None
        if version is None:
            raise HTTPException(404)
        return version

    @staff_only
    def confirm_activate(self, visit: Visit) -> Response:
        """Rolling back changes every answer at once: a page of its own asks first."""
        version = self._version(visit)
        return self.render(
            visit.request,
            "activate.html",
            visit.staff,
            active="staff_versions",
            version=version,
            editor=self._editor(visit),
        )

    @staff_only
    @editors_only
    def activate(self, visit: Visit) -> Response:
        assert visit.form is not None
        version = self._version(visit)
        if not visit.form.get("confirm"):
            text = "「この版に戻してよいことを確認しました」にチェックを入れてから、もう一度押してください。"
            return self.message(visit.request, 400, "戻していません", text)
        try:
            rollback(self.service.sessions, version.id, visit.staff)
        except (UnknownVersionError, PlanDataError) as error:
            return self.message(visit.request, 400, "戻せませんでした", str(error))
        logger.info("staff %s activated plan version %d", visit.staff, version.id)
        self.service.active.refresh()
        return self.redirect(visit.request, "staff_versions")

    # --- quality, the answer key, the audit trail

    @staff_only
    def quality(self, visit: Visit) -> Response:
        """Every version scored on today's answer key and the shipped questions, as a chart."""
        with self.service.sessions() as session:
            rows = quality_by_version(session)
            key_size = len(answer_key(session))
        points = [
            (f"第{row.version_id}版", round(row.answer_key.hit1 * 100)) for row in rows if row.answer_key
        ]
        return self.render(
            visit.request,
            "quality.html",
            visit.staff,
            active="staff_quality",
            rows=rows,
            key_size=key_size,
            chart=column_chart("市の正解集での1位正答率（%）", points),
        )

    @staff_only
    def export_answer_key(self, visit: Visit) -> Response:
        """The answer key as JSONL for `python -m bot evaluate` (a POST, recorded like every export)."""
        with self.service.sessions() as session, session.begin():
            questions = answer_key(session)
            audit.record(session, visit.staff, "export", "answer key", questions=len(questions))
        filename = f"planbot-answer-key-{dt.datetime.now(LOCAL_TZ):%Y%m%d-%H%M}.jsonl"
        return Response(
            answer_key_jsonl(questions),
            media_type="application/x-ndjson; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @staff_only
    def audit_trail(self, visit: Visit) -> Response:
        params = visit.request.query_params
        errors = []
        times: dict[str, dt.datetime | None] = {}
        for key in ("since", "until"):
            value = params.get(key, "").strip()
            try:
                times[key] = parse_time(value, end_of_day=key == "until") if value else None
            except ValueError:
                errors.append(f"日付は 2026-11-01 の形で入力してください（{value[:20]}）")
                times[key] = None
        action = params.get("action", "")
        event_filter = audit.AuditFilter(
            staff=params.get("staff", "").strip()[:64] or None,
            action=action if action in audit.ACTIONS else None,
            since=times["since"],
            until=times["until"],
        )
        with self.service.sessions() as session:
            rows = audit.list_events(session, event_filter, limit=200)
        return self.render(
            visit.request,
            "audit.html",
            visit.staff,
            status=400 if errors else 200,
            active="staff_audit",
            rows=rows,
            errors=errors,
            params=params,
            actions=audit.ACTIONS,
        )


def curation_routes(service: PlanService) -> list[Route]:
    """The pages' routes, relative to /staff."""
    pages = CurationPages(service)
    return [
        Route("/resolve", pages.resolve_form, name="staff_resolve"),
        Route("/resolve", pages.resolve, methods=["POST"]),
        Route("/reopen/{exchange_id:int}", pages.reopen, methods=["POST"], name="staff_reopen"),
        Route("/context/{exchange_id:int}", pages.context, name="staff_context"),
        Route("/suggest/{exchange_id:int}", pages.suggestions, name="staff_suggest"),
        Route("/suggest/{exchange_id:int}", pages.suggestion, methods=["POST"]),
        Route("/draft", pages.draft, name="staff_draft"),
        Route("/draft", pages.change_draft, methods=["POST"]),
        Route("/preview", pages.preview, name="staff_preview"),
        Route("/publish", pages.publish, methods=["POST"], name="staff_publish"),
        Route("/versions", pages.versions, name="staff_versions"),
        Route("/versions/{version_id:int}/activate", pages.confirm_activate, name="staff_activate"),
        Route("/versions/{version_id:int}/activate", pages.activate, methods=["POST"]),
        Route("/quality", pages.quality, name="staff_quality"),
        Route("/answer-key.jsonl", pages.export_answer_key, methods=["POST"], name="staff_answer_key"),
        Route("/audit", pages.audit_trail, name="staff_audit"),
    ]

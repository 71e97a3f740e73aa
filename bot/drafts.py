"""The draft: changes to the plan's search data and metadata that staff make before publishing.

Staff change the thesaurus, measures' keywords, and the `url`, `contact` and
`title_en` of chapters and measures; never the plan's own text, which changes only
with a plan revision. Each change is stored as a pending `PlanEdit` and applied, in
order, to the active version's YAML files to build the candidate plan. The files are
edited with ruamel.yaml's round trip, so comments, flow lists and key order survive
and a published version reads like the hand-written one (and `versions export`
gives the repository a reviewable diff).
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from sqlalchemy import select
from sqlalchemy.orm import Session

from index import Plan, PlanBundle, build_bundle
from index.plan import PLAN_FILE, THESAURUS_FILE

from . import audit
from .errors import EditError
from .store import PlanEdit, utcnow

__all__ = [
    "FIELD_KINDS",
    "KINDS",
    "PENDING",
    "PUBLISHED",
    "REJECTED",
    "Draft",
    "Edit",
    "StoredEdit",
    "add_edit",
    "apply_edits",
    "build_candidate",
    "discard_edit",
    "mark_published",
    "pending_edits",
    "reject_edit",
    "rejected_edits",
]

SYNONYM_ADD, SYNONYM_REMOVE = "synonym_add", "synonym_remove"
KEYWORD_ADD, KEYWORD_REMOVE = "keyword_add", "keyword_remove"
FIELD_KINDS = ("url", "contact", "title_en")
KINDS = (SYNONYM_ADD, SYNONYM_REMOVE, KEYWORD_ADD, KEYWORD_REMOVE, *FIELD_KINDS)

PENDING, PUBLISHED, REJECTED = "pending", "published", "rejected"


@dataclass(frozen=True, slots=True)
class Edit:
    """One change. `target`: a plan word (synonyms), a middle measure id (keywords), or a part of
    the plan for metadata: "2" (chapter), "2-2" (major measure), "2-2-4" (middle measure).
    `value`: the word; the url or title_en text; {"name", "phone"} for a contact; None clears a field.
    """

    kind: str
    target: str
    value: str | dict[str, str] | None

    def describe(self) -> str:
        if self.kind == SYNONYM_ADD:
            return f"synonym: {self.target} ← {self.value}"
        if self.kind == SYNONYM_REMOVE:
            return f"synonym removed: {self.target} ← {self.value}"
        if self.kind == KEYWORD_ADD:
            return f"keyword of {self.target}: {self.value}"
        if self.kind == KEYWORD_REMOVE:
            return f"keyword removed from {self.target}: {self.value}"
        if self.value is None:
            return f"{self.kind} of {self.target} cleared"
        shown = self.value if isinstance(self.value, str) else " ".join(self.value.values())
        return f"{self.kind} of {self.target}: {shown}"

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "target": self.target, "value": self.value}


@dataclass(frozen=True, slots=True)
class StoredEdit:
    id: int
    edit: Edit
    staff_name: str
    created_at: dt.datetime
    exchange_id: int | None


@dataclass(frozen=True, slots=True)
class Draft:
    """The pending edits and the plan they make, built on a base version."""

    edits: tuple[StoredEdit, ...]
    base: PlanBundle
    candidate: PlanBundle


def _yaml() -> YAML:
    """Round-trip YAML in the layout of plan_data/ (verified byte for byte on the bundled plan)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100_000  # never fold the plan's long Japanese lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@lru_cache(maxsize=16)
def _parsed(text: str) -> bytes:
    """A plan file's round-trip document, pickled. Parsing is the slow part of an edit (a fifth
    of a second for the thesaurus) and every draft, suggestion and preview changes its own
    copy, so each file's text is parsed once and copied by unpickling."""
    return pickle.dumps(_yaml().load(text))


def _document(documents: dict[str, Any], sources: Mapping[str, str], name: str) -> Any:
    """File `name` as this set of edits sees it: parsed on first use, then changed in place."""
    if name not in documents:
        documents[name] = pickle.loads(_parsed(sources[name]))
    return documents[name]


def _flow(words: Sequence[str]) -> CommentedSeq:
    seq = CommentedSeq(words)
    seq.fa.set_flow_style()
    return seq


def _chapter_files(documents: dict[str, Any], sources: Mapping[str, str]) -> list[str]:
    plan = _document(documents, sources, PLAN_FILE)
    return [str(name) for name in plan.get("chapters", [])]


def _part(documents: dict[str, Any], sources: Mapping[str, str], edit: Edit) -> tuple[str, CommentedMap]:
    """The file and the mapping of the chapter, major measure or middle measure `edit.target` names."""
    numbers = edit.target.split("-")
    if not 1 <= len(numbers) <= 3 or not all(n.isdigit() for n in numbers):
        raise EditError(f"{edit.describe()}: '{edit.target}' is not a chapter, measure or middle measure id")
    files = _chapter_files(documents, sources)
    chapter_no = int(numbers[0])
    if not 1 <= chapter_no <= len(files) or files[chapter_no - 1] not in sources:
        raise EditError(f"{edit.describe()}: the plan has no chapter {chapter_no}")
    name = files[chapter_no - 1]
    part: CommentedMap = _document(documents, sources, name)
    for key, number in zip(("measures", "middles"), numbers[1:], strict=False):
        children = part.get(key) or []
        index = int(number) - 1
        if not 0 <= index < len(children):
            raise EditError(f"{edit.describe()}: the plan has no measure {edit.target}")
        part = children[index]
    return name, part


def _synonyms(documents: dict[str, Any], sources: Mapping[str, str]) -> CommentedMap:
    if THESAURUS_FILE not in sources:  # a plan without a thesaurus starts one
        documents.setdefault(THESAURUS_FILE, CommentedMap())
    elif _document(documents, sources, THESAURUS_FILE) is None:  # an empty file
        documents[THESAURUS_FILE] = CommentedMap()
    thesaurus: CommentedMap = documents[THESAURUS_FILE]
    return thesaurus


def _apply(documents: dict[str, Any], sources: Mapping[str, str], edit: Edit) -> None:
    if edit.kind in (SYNONYM_ADD, SYNONYM_REMOVE, KEYWORD_ADD, KEYWORD_REMOVE):
        word = edit.value.strip() if isinstance(edit.value, str) else ""
        if not word or not edit.target.strip():
            raise EditError(f"{edit.describe()}: the word must be non-empty text")
    if edit.kind in (SYNONYM_ADD, SYNONYM_REMOVE):
        thesaurus = _synonyms(documents, sources)
        key = edit.target.strip()
        words = thesaurus.get(key)
        if edit.kind == SYNONYM_ADD:
            if words is None:
                thesaurus[key] = _flow([word])
            elif word not in words:
                words.append(word)
            return
        if words is None or word not in words:
            raise EditError(f"{edit.describe()}: the thesaurus has no such entry")
        words.remove(word)
        if not words:
            del thesaurus[key]
        return
    if edit.kind in (KEYWORD_ADD, KEYWORD_REMOVE):
        _name, part = _part(documents, sources, edit)
        keywords = part.get("keywords")
        if edit.kind == KEYWORD_ADD:
            if keywords is None:
                part["keywords"] = _flow([word])
            elif word not in keywords:
                keywords.append(word)
            return
        if keywords is None or word not in keywords:
            raise EditError(f"{edit.describe()}: the measure has no such keyword")
        keywords.remove(word)
        if not keywords:
            del part["keywords"]
        return
    if edit.kind not in FIELD_KINDS:
        raise EditError(f"unknown kind of change '{edit.kind}'")
    _name, part = _part(documents, sources, edit)
    if edit.value is None:
        part.pop(edit.kind, None)
        return
    if edit.kind == "contact":
        if not isinstance(edit.value, dict):
            raise EditError(f"{edit.describe()}: a contact is a name and an optional phone")
        contact = CommentedMap()
        for key in ("name", "phone"):
            if edit.value.get(key):
                contact[key] = edit.value[key].strip()
        _set(part, "contact", contact)
        return
    if not isinstance(edit.value, str):
        raise EditError(f"{edit.describe()}: expected text")
    _set(part, edit.kind, edit.value.strip())


def _set(part: CommentedMap, key: str, value: object) -> None:
    """Replace in place, or add a new key after the title (and its English), before long lists."""
    if key in part:
        part[key] = value
        return
    keys = list(part.keys())
    after = "title_en" if "title_en" in keys else "title"
    position = keys.index(after) + 1 if after in keys else len(keys)
    part.insert(position, key, value)


def apply_edits(sources: Mapping[str, str], edits: Sequence[Edit]) -> dict[str, str]:
    """The plan files with `edits` applied in order; files no edit touches keep their exact text.

    EditError names the first change that does not fit the files (a removed entry, an
    unknown measure). The result is not validated: build it with `build_bundle`.
    """
    documents: dict[str, Any] = {}
    try:
        for edit in edits:
            _apply(documents, sources, edit)
    except YAMLError as error:
        raise EditError(f"the plan files cannot be edited: {error}") from None
    result = dict(sources)
    yaml = _yaml()
    for name, document in documents.items():
        if name == PLAN_FILE:
            continue  # read for the chapter list only
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        result[name] = buffer.getvalue()
    return result


def _stored(row: PlanEdit) -> StoredEdit:
    value = row.value if isinstance(row.value, str | dict) else None
    return StoredEdit(
        row.id, Edit(row.kind, row.target, value), row.staff_name, row.created_at, row.exchange_id
    )


def pending_edits(session: Session) -> list[StoredEdit]:
    """The draft, in the order it is applied."""
    query = select(PlanEdit).where(PlanEdit.status == PENDING).order_by(PlanEdit.id)
    return [_stored(row) for row in session.scalars(query)]


def rejected_edits(session: Session) -> set[Edit]:
    """Suggestions staff turned down (not suggested again)."""
    return {_stored(row).edit for row in session.scalars(select(PlanEdit).where(PlanEdit.status == REJECTED))}


def build_candidate(base: PlanBundle, edits: Sequence[StoredEdit]) -> Draft:
    """The base version with the edits applied, validated and indexed.

    EditError when an edit no longer fits; PlanDataError (file, entry, problem) when the
    result is not a valid plan, e.g. a url without https:// or a plan word the plan lacks.
    """
    sources = apply_edits(base.sources, [stored.edit for stored in edits])
    candidate = base if sources == dict(base.sources) else build_bundle(sources)
    return Draft(tuple(edits), base, candidate)


def _check_target(plan: Plan, edit: Edit) -> None:
    if edit.kind in (KEYWORD_ADD, KEYWORD_REMOVE):
        try:
            plan.locate(edit.target)
        except KeyError:
            raise EditError(f"{edit.describe()}: keywords belong to a middle measure id like 2-2-4") from None


def add_edit(
    session: Session, base: PlanBundle, edit: Edit, staff_name: str, *, exchange_id: int | None = None
) -> StoredEdit:
    """Add `edit` to the draft after checking that the draft still builds a valid plan with it.

    EditError or PlanDataError (nothing stored) when it does not.
    """
    if edit.kind not in KINDS:
        raise EditError(f"unknown kind of change '{edit.kind}'")
    _check_target(base.plan, edit)
    draft = pending_edits(session)
    probe = StoredEdit(0, edit, staff_name, utcnow(), exchange_id)
    build_candidate(base, [*draft, probe])  # raises, naming the problem, before anything is stored
    row = PlanEdit(
        kind=edit.kind,
        target=edit.target,
        value=edit.value,
        status=PENDING,
        exchange_id=exchange_id,
        staff_name=staff_name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session, staff_name, "edit", edit.target, change=edit.describe(), kind=edit.kind, value=edit.value
    )
    return _stored(row)


def discard_edit(session: Session, edit_id: int, staff_name: str) -> None:
    """Take a pending edit out of the draft. EditError if there is no such pending edit."""
    row = session.get(PlanEdit, edit_id)
    if row is None or row.status != PENDING:
        raise EditError(f"there is no pending change {edit_id}")
    audit.record(session, staff_name, "discard", row.target, change=_stored(row).edit.describe())
    session.delete(row)
    session.flush()


def reject_edit(session: Session, edit: Edit, staff_name: str, *, exchange_id: int | None = None) -> None:
    """Turn a suggestion down: it is remembered so that it is not suggested again."""
    session.add(
        PlanEdit(
            kind=edit.kind,
            target=edit.target,
            value=edit.value,
            status=REJECTED,
            exchange_id=exchange_id,
            staff_name=staff_name,
            created_at=utcnow(),
        )
    )
    audit.record(session, staff_name, "reject", edit.target, change=edit.describe(), exchange=exchange_id)


def mark_published(session: Session, edit_ids: Sequence[int], version_id: int) -> None:
    for row in session.scalars(select(PlanEdit).where(PlanEdit.id.in_(edit_ids))):
        row.status, row.version_id = PUBLISHED, version_id

"""Reading and validating `plan_data/`: YAML files a city officer edits by hand.

Loading works on a mapping of file name → text, so the same code reads a folder
on disk and a plan version stored in the database. Validation collects every
problem of a run before failing, because fixing one error per run is slow work.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import PlanDataError, Problem
from .models import (
    Chapter,
    Contact,
    Indicator,
    Introduction,
    Layer,
    Measure,
    Middle,
    Plan,
    PlanInfo,
    TimelineStep,
)
from .yamlio import parse_yaml

__all__ = [
    "PLAN_FILE",
    "THESAURUS_FILE",
    "bundled_plan_dir",
    "digest",
    "parse_plan",
    "read_sources",
]

PLAN_FILE = "plan.yaml"
THESAURUS_FILE = "synonyms.yaml"

T = TypeVar("T")


def bundled_plan_dir() -> Path:
    """The plan shipped with the product (the repository's `plan_data/`)."""
    return Path(__file__).resolve().parent.parent / "plan_data"


def read_sources(directory: Path) -> dict[str, str]:
    """Every YAML file of a plan folder, by name. PlanDataError if the folder is unusable."""
    if not directory.is_dir():
        raise PlanDataError([Problem(str(directory), "", "no such plan folder")])
    sources = {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.yaml"))}
    if PLAN_FILE not in sources:
        raise PlanDataError([Problem(str(directory / PLAN_FILE), "", "file not found")])
    return sources


def digest(sources: Mapping[str, str]) -> str:
    """A content hash of a plan's files: equal content, equal digest."""
    hasher = hashlib.sha256()
    for name in sorted(sources):
        hasher.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return hasher.hexdigest()


class _Reader:
    """Typed access to one YAML file's values that records problems instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.ids: dict[str, str] = {}  # middle measure id -> the entry that first used it

    def error(self, entry: str, message: str) -> None:
        self.problems.append(Problem(self.file, entry, message))

    def mapping(
        self, value: Any, entry: str, required: set[str], optional: set[str]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(entry, f"expected a mapping of keys, found {_kind(value)}")
            return None
        known = required | optional
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = (
                    f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(known))})"
                )
                self.error(entry, f"unknown key '{key}'{hint}")
        for key in sorted(required - value.keys()):
            self.error(entry, f"'{key}' is missing")
        return value

    def text(self, data: dict[str, Any], key: str, entry: str, *, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None:
            if required and key in data:
                self.error(entry, f"'{key}' is empty")
            return None
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            self.error(entry, f"'{key}' must be text, found {_kind(value)}")
            return None
        if not value.strip():
            self.error(entry, f"'{key}' is empty")
            return None
        return value.strip()

    def url(self, data: dict[str, Any], key: str, entry: str, *, required: bool = False) -> str | None:
        """A web address residents can open: http(s) with a host, nothing else."""
        value = self.text(data, key, entry, required=required)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            self.error(
                entry, f"'{key}' '{value}' is not a web address: it must start with http:// or https://"
            )
            return None
        return value

    def number(self, data: dict[str, Any], key: str, entry: str) -> int | None:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            if key in data:
                self.error(entry, f"'{key}' must be a whole number, found {_kind(value)}")
            return None
        return value

    def flag(self, data: dict[str, Any], key: str, entry: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.error(entry, f"'{key}' must be true or false, found {_kind(value)}")
            return False
        return value

    def texts(self, data: dict[str, Any], key: str, entry: str, *, required: bool = True) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            if required and key in data:
                self.error(entry, f"'{key}' is empty")
            return ()
        if not isinstance(value, list):
            self.error(entry, f"'{key}' must be a list, found {_kind(value)}")
            return ()
        found: list[str] = []
        for position, item in enumerate(value, start=1):
            if not isinstance(item, str) or not item.strip():
                self.error(entry, f"'{key}' entry {position} must be non-empty text, found {_kind(item)}")
            else:
                found.append(item.strip())
        if required and not value:
            self.error(entry, f"'{key}' is empty")
        return tuple(found)

    def records(
        self, data: dict[str, Any], key: str, entry: str, build: Callable[[Any, int], T | None]
    ) -> tuple[T, ...]:
        """A list of sub-entries, each built by `build(value, position)`."""
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(entry, f"'{key}' must be a list, found {_kind(value)}")
            return ()
        built = (build(item, position) for position, item in enumerate(value, start=1))
        return tuple(item for item in built if item is not None)

    def numbering(self, numbers: list[int | None], entry: str, what: str) -> None:
        """Numbers must run 1, 2, 3 … in order: a duplicate or a gap is a typo."""
        seen = [n for n in numbers if n is not None]
        for expected, number in enumerate(numbers, start=1):
            if number is not None and number != expected:
                repeated = f" (number {number} is used twice)" if seen.count(number) > 1 else ""
                self.error(
                    entry, f"{what} number {number} should be {expected}{repeated}; numbers run 1, 2, 3 …"
                )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


_OPTIONAL_FIELDS = {"description", "keywords", "indicators", "url", "contact", "title_en"}
_CHAPTER_OPTIONAL_FIELDS = _OPTIONAL_FIELDS - {"indicators"}

# A Japanese number as the city prints it: 0 first, 10 or 11 half-width digits, hyphens optional
# (048-463-1111, 0120-123-456, 090-1234-5678).
_PHONE = re.compile(r"0[0-9]{1,4}-?[0-9]{1,4}-?[0-9]{3,4}")
# Kana, kanji and full-width forms: a title_en containing them was pasted from the Japanese.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")


def _contact(reader: _Reader, data: dict[str, Any], entry: str) -> Contact | None:
    """`contact: {name: 担当課, phone: 048-…}`: whom residents can ask about this part of the plan."""
    if data.get("contact") is None:
        if "contact" in data:
            reader.error(entry, "'contact' is empty")
        return None
    where = f"{entry} › contact" if entry else "contact"
    fields = reader.mapping(data["contact"], where, {"name"}, {"phone"})
    if fields is None:
        return None
    name = reader.text(fields, "name", where)
    return Contact(name, _phone(reader, fields, where)) if name else None


def _phone(reader: _Reader, data: dict[str, Any], entry: str) -> str | None:
    value = data.get("phone")
    if value is not None and not isinstance(value, str):  # YAML reads 0120123456 as a number
        reader.error(entry, f"'phone' must be text like 048-463-1111 (in quotes), found {_kind(value)}")
        return None
    phone = reader.text(data, "phone", entry)
    if phone is None:
        return None
    if not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) not in (10, 11):
        reader.error(entry, f"'phone' '{phone}' is not a Japanese phone number (write it like 048-463-1111)")
        return None
    return phone


def _title_en(reader: _Reader, data: dict[str, Any], entry: str) -> str | None:
    title = reader.text(data, "title_en", entry, required=True)
    if title is not None and _JAPANESE.search(title):
        reader.error(entry, f"'title_en' '{title}' contains Japanese: write the English of 'title'")
        return None
    return title


def _indicator(reader: _Reader, entry: str) -> Callable[[Any, int], Indicator | None]:
    def build(value: Any, position: int) -> Indicator | None:
        where = f"{entry} › indicator {position}"
        data = reader.mapping(value, where, {"name"}, {"baseline", "target", "unit"})
        if data is None:
            return None
        name = reader.text(data, "name", where)
        fields = {key: _scalar_text(data.get(key)) for key in ("baseline", "target", "unit")}
        return Indicator(name=name, **fields) if name else None

    return build


def _optional(
    reader: _Reader, data: dict[str, Any], entry: str, *, indicators: bool = True
) -> dict[str, Any]:
    """The optional fields a revised plan may add (description, keywords, indicators, url, contact,
    title_en)."""
    fields: dict[str, Any] = {
        "description": reader.text(data, "description", entry, required=False),
        "keywords": reader.texts(data, "keywords", entry, required=False),
        "url": reader.url(data, "url", entry),
        "contact": _contact(reader, data, entry),
        "title_en": _title_en(reader, data, entry),
    }
    if indicators:
        fields["indicators"] = reader.records(data, "indicators", entry, _indicator(reader, entry))
    return fields


def _scalar_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _middle(
    reader: _Reader, chapter_no: int | None, measure_no: int | None
) -> Callable[[Any, int], Middle | None]:
    def build(value: Any, position: int) -> Middle | None:
        entry = f"第{chapter_no}章 › {measure_no} › ({position})"
        data = reader.mapping(value, entry, {"id", "number", "title", "items"}, {"more"} | _OPTIONAL_FIELDS)
        if data is None:
            return None
        title = reader.text(data, "title", entry)
        number = reader.number(data, "number", entry)
        items = reader.texts(data, "items", entry)
        more = reader.flag(data, "more", entry)
        middle_id = reader.text(data, "id", entry)
        expected = f"{chapter_no}-{measure_no}-{position}"
        first = reader.ids.setdefault(middle_id, entry) if middle_id is not None else entry
        if first != entry:
            reader.error(
                entry, f"duplicate id '{middle_id}' (already used by {first}; expected '{expected}')"
            )
        elif middle_id is not None and middle_id != expected:
            reader.error(entry, f"id '{middle_id}' does not match its position (expected '{expected}')")
        if title is None or number is None or middle_id is None:
            return None
        return Middle(
            id=middle_id,
            number=number,
            title=title,
            items=items,
            more=more,
            **_optional(reader, data, entry),
        )

    return build


def _measure(reader: _Reader, chapter_no: int | None) -> Callable[[Any, int], Measure | None]:
    def build(value: Any, position: int) -> Measure | None:
        entry = f"第{chapter_no}章 › {position}"
        data = reader.mapping(value, entry, {"number", "title", "goals", "middles"}, _OPTIONAL_FIELDS)
        if data is None:
            return None
        number = reader.number(data, "number", entry)
        title = reader.text(data, "title", entry)
        goals = reader.texts(data, "goals", entry)
        middles = reader.records(data, "middles", entry, _middle(reader, chapter_no, position))
        if not data.get("middles"):
            reader.error(entry, "'middles' is empty: a measure needs at least one middle measure")
        reader.numbering(_numbers(data.get("middles")), entry, "middle measure")
        if title is None or number is None:
            return None
        return Measure(
            number=number,
            title=title,
            goals=goals,
            middles=middles,
            **_optional(reader, data, entry),
        )

    return build


def _numbers(entries: Any) -> list[int | None]:
    if not isinstance(entries, list):
        return []
    return [
        e.get("number") if isinstance(e, dict) and isinstance(e.get("number"), int) else None for e in entries
    ]


def _chapter(file: str, document: Any, position: int) -> tuple[Chapter | None, list[Problem]]:
    reader = _Reader(file)
    data = reader.mapping(document, "", {"number", "title", "measures"}, _CHAPTER_OPTIONAL_FIELDS)
    if data is None:
        return None, reader.problems
    number = reader.number(data, "number", "")
    if number is not None and number != position:
        reader.error(
            "", f"chapter number {number} does not match its place in {PLAN_FILE} (expected {position})"
        )
    chapter_no = number if number is not None else position
    entry = f"第{chapter_no}章"
    title = reader.text(data, "title", entry)
    measures = reader.records(data, "measures", entry, _measure(reader, chapter_no))
    if not data.get("measures"):
        reader.error(entry, "'measures' is empty: a chapter needs at least one measure")
    reader.numbering(_numbers(data.get("measures")), entry, "measure")
    if title is None or reader.problems:
        return None, reader.problems
    chapter = Chapter(
        number=chapter_no,
        title=title,
        measures=measures,
        **_optional(reader, data, entry, indicators=False),
    )
    return chapter, reader.problems


def _introduction(reader: _Reader, value: Any) -> Introduction | None:
    entry = "introduction"
    data = reader.mapping(
        value, entry, {"title", "summary", "layers", "timeline"}, {"completion", "consultation_events"}
    )
    if data is None:
        return None

    def layer(item: Any, position: int) -> Layer | None:
        where = f"{entry} › layers › {position}"
        fields = reader.mapping(item, where, {"name", "description"}, {"drafted_now"})
        if fields is None:
            return None
        name, description = reader.text(fields, "name", where), reader.text(fields, "description", where)
        drafted = reader.flag(fields, "drafted_now", where)
        return Layer(name, description, drafted) if name and description else None

    def step(item: Any, position: int) -> TimelineStep | None:
        where = f"{entry} › timeline › {position}"
        fields = reader.mapping(item, where, {"year", "steps"}, {"more"})
        if fields is None:
            return None
        year = reader.text(fields, "year", where)
        steps = reader.texts(fields, "steps", where)
        return TimelineStep(year, steps, reader.flag(fields, "more", where)) if year else None

    title, summary = reader.text(data, "title", entry), reader.text(data, "summary", entry)
    layers = reader.records(data, "layers", entry, layer)
    timeline = reader.records(data, "timeline", entry, step)
    if title is None or summary is None:
        return None
    return Introduction(
        title=title,
        summary=summary,
        layers=layers,
        timeline=timeline,
        completion=reader.text(data, "completion", entry, required=False),
        consultation_events=reader.texts(data, "consultation_events", entry, required=False),
    )


def parse_plan(sources: Mapping[str, str]) -> Plan:
    """The validated plan from its files' texts; PlanDataError lists every problem."""
    document, problem = parse_yaml(PLAN_FILE, sources[PLAN_FILE])
    if problem is not None:
        raise PlanDataError([problem])
    reader = _Reader(PLAN_FILE)
    data = reader.mapping(
        document,
        "",
        {"title", "period", "source", "version", "date", "introduction", "chapters", "contact", "url"},
        {"period_note"},
    )
    if data is None:
        raise PlanDataError(reader.problems)
    fields = {key: reader.text(data, key, "") for key in ("title", "period", "source", "version", "date")}
    introduction = _introduction(reader, data.get("introduction"))
    contact, url = _contact(reader, data, ""), reader.url(data, "url", "", required=True)
    chapter_files = reader.texts(data, "chapters", "chapters")
    problems = reader.problems
    chapters: list[Chapter] = []
    for position, name in enumerate(chapter_files, start=1):
        if name not in sources:
            problems.append(Problem(PLAN_FILE, "chapters", f"chapter file '{name}' not found"))
            continue
        chapter_document, yaml_problem = parse_yaml(name, sources[name])
        if yaml_problem is not None:
            problems.append(yaml_problem)
            continue
        chapter, chapter_problems = _chapter(name, chapter_document, position)
        problems.extend(chapter_problems)
        if chapter is not None:
            chapters.append(chapter)
    if problems or introduction is None or contact is None or url is None or None in fields.values():
        raise PlanDataError(problems)
    info = PlanInfo(
        title=fields["title"] or "",
        period=fields["period"] or "",
        source=fields["source"] or "",
        version=fields["version"] or "",
        date=fields["date"] or "",
        introduction=introduction,
        contact=contact,
        url=url,
        period_note=reader.text(data, "period_note", "", required=False),
    )
    return Plan(info=info, chapters=tuple(chapters))

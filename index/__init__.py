"""The plan, its validation and its search index. Knows nothing of Telegram or databases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .cache import cached  # first: it reads this package's source as imported (see index.cache)
from .errors import PlanBotError, PlanDataError, Problem
from .models import Chapter, Contact, Located, Measure, Middle, Plan, Route
from .plan import bundled_plan_dir, digest, parse_plan, read_sources
from .results import Field, Grade, Hit, Match, Reason, SearchResult
from .search import SearchIndex, Tuning
from .thesaurus import Thesaurus, parse_thesaurus

__all__ = [
    "Chapter",
    "Contact",
    "Field",
    "Grade",
    "Hit",
    "Located",
    "Match",
    "Measure",
    "Middle",
    "Plan",
    "PlanBotError",
    "PlanBundle",
    "PlanDataError",
    "Problem",
    "Reason",
    "Route",
    "SearchIndex",
    "SearchResult",
    "Thesaurus",
    "Tuning",
    "build_bundle",
    "bundled_plan_dir",
    "digest",
    "load_bundle",
    "read_sources",
]


@dataclass(frozen=True, slots=True)
class PlanBundle:
    """One whole plan version: its files, the parsed plan, thesaurus and index, built together.

    Answers are built from one bundle, so a reindex can never mix two versions.
    """

    sources: Mapping[str, str]
    digest: str
    plan: Plan
    thesaurus: Thesaurus
    index: SearchIndex


def build_bundle(sources: Mapping[str, str]) -> PlanBundle:
    """Validate plan and thesaurus together (all problems at once) and build the index,
    or load the same version built before by this code (see index.cache)."""
    return cached(digest(sources), lambda: _build(sources))


def _build(sources: Mapping[str, str]) -> PlanBundle:
    problems: list[Problem] = []
    plan: Plan | None = None
    thesaurus: Thesaurus | None = None
    try:
        plan = parse_plan(sources)
    except PlanDataError as error:
        problems.extend(error.problems)
    try:
        thesaurus = parse_thesaurus(sources)
    except PlanDataError as error:
        problems.extend(error.problems)
    if plan is None or thesaurus is None:
        raise PlanDataError(problems)
    index = SearchIndex(plan, thesaurus)
    return PlanBundle(dict(sources), digest(sources), plan, thesaurus, index)


def load_bundle(directory: Path | None = None) -> PlanBundle:
    """The plan version in a folder (by default the bundled `plan_data/`)."""
    return build_bundle(read_sources(directory or bundled_plan_dir()))

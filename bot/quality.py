"""Answer quality over time: every plan version scored on the same labelled questions.

The city's answer key grows with each resolution, so all versions are re-scored on
today's key (and on the labelled questions shipped with the product): the figures
then say how each version would answer what residents actually ask, and whether
each publish made things better. The dashboard draws them as a chart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from index import PlanDataError, build_bundle
from index.evaluate import Labelled, evaluate

from .curation import answer_key
from .preview import Figures, bundled_questions
from .store import PlanVersion

__all__ = ["VersionQuality", "quality_by_version"]


@dataclass(frozen=True, slots=True)
class VersionQuality:
    version_id: int
    label: str
    created_at: dt.datetime
    active: bool
    answer_key: Figures | None  # None: no labelled questions yet, or a version this release cannot read
    shipped: Figures | None

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version_id,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "active": self.active,
            "answer_key": self.answer_key.as_json() if self.answer_key else None,
            "shipped": self.shipped.as_json() if self.shipped else None,
        }


def quality_by_version(
    session: Session, *, shipped: Sequence[Labelled] | None = None
) -> list[VersionQuality]:
    """Each version, oldest first, scored by `index.evaluate` on today's answer key and the shipped set."""
    key = answer_key(session)
    labelled = bundled_questions() if shipped is None else list(shipped)
    scored = []
    for version in session.scalars(select(PlanVersion).order_by(PlanVersion.id)):
        try:
            index = build_bundle(version.sources).index  # cached on disk after the first build
        except PlanDataError:
            index = None
        scored.append(
            VersionQuality(
                version.id,
                version.label,
                version.created_at,
                version.active,
                Figures.of(evaluate(index, key)) if index and key else None,
                Figures.of(evaluate(index, labelled)) if index and labelled else None,
            )
        )
    return scored

"""What changed between two plan versions, in words staff recognise (ids and citations)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Chapter, Measure, Middle, Plan
from .thesaurus import Thesaurus

__all__ = ["Change", "diff_plans"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # added, removed, retitled, items, details, goals, chapter, synonyms, plan
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.subject}: {self.detail}"


_DETAILS = ("keywords", "description", "url", "contact", "title_en")


def _details(old: Chapter | Measure | Middle, new: Chapter | Measure | Middle) -> str | None:
    """Which optional fields of a plan part changed, e.g. "contact, title_en changed"."""
    changed = [name for name in _DETAILS if getattr(old, name) != getattr(new, name)]
    return f"{', '.join(changed)} changed" if changed else None


def _city_route(plan: Plan) -> tuple[object, ...]:
    return (plan.info.contact, plan.info.url)


def diff_plans(old: Plan, old_thesaurus: Thesaurus, new: Plan, new_thesaurus: Thesaurus) -> list[Change]:
    changes: list[Change] = []
    if old.info != new.info:
        route = " (the city-wide contact or url)" if _city_route(old) != _city_route(new) else ""
        changes.append(
            Change("plan", "plan.yaml", f"plan details changed{route} (version {new.info.version})")
        )
    before = {located.middle.id: located for located in old.located()}
    after = {located.middle.id: located for located in new.located()}
    for middle_id, located in after.items():
        previous = before.get(middle_id)
        if previous is None:
            changes.append(Change("added", middle_id, located.citation))
            continue
        if previous.citation != located.citation:
            changes.append(Change("retitled", middle_id, f"{previous.citation} → {located.citation}"))
        if (previous.middle.items, previous.middle.more) != (located.middle.items, located.middle.more):
            changes.append(
                Change("items", middle_id, f"{located.citation}: {'、'.join(located.middle.items)}")
            )
        if details := _details(previous.middle, located.middle):
            changes.append(Change("details", middle_id, f"{located.citation}: {details}"))
    changes += [Change("removed", mid, loc.citation) for mid, loc in before.items() if mid not in after]
    old_measures = {(c.number, m.number): m for c in old.chapters for m in c.measures}
    for chapter in new.chapters:
        for measure in chapter.measures:
            previous_measure = old_measures.get((chapter.number, measure.number))
            if previous_measure is None:
                continue
            subject, where = f"{chapter.number}-{measure.number}", f"{chapter.label} › {measure.title}"
            if previous_measure.goals != measure.goals:
                changes.append(Change("goals", subject, where))
            if details := _details(previous_measure, measure):
                changes.append(Change("details", subject, f"{where}: {details}"))
    old_chapters = {chapter.number: chapter for chapter in old.chapters}
    for chapter in new.chapters:
        previous_chapter = old_chapters.get(chapter.number)
        if previous_chapter is not None and (details := _details(previous_chapter, chapter)):
            changes.append(Change("details", str(chapter.number), f"{chapter.label}: {details}"))
    old_words, new_words = old_thesaurus.as_dict(), new_thesaurus.as_dict()
    for word in sorted(old_words.keys() | new_words.keys()):
        if old_words.get(word) != new_words.get(word):
            if word not in old_words:
                detail = f"added: {'、'.join(new_words[word])}"
            elif word not in new_words:
                detail = "removed"
            else:
                detail = f"now: {'、'.join(new_words[word])}"
            changes.append(Change("synonyms", word, detail))
    return changes

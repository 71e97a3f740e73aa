"""Personal details residents type into questions, found so staff pages and exports can mask them.

Residents sometimes write their phone number, e-mail address, street address or a
person's name into a question. Staff need the question, not the person, so pages and
CSV exports show 〔電話番号〕, 〔メール〕, 〔住所〕 and 〔氏名〕 in their place; revealing
one exchange is a deliberate, audited act (see the exchange page). Phone numbers, mail
and street addresses are found by pattern, half- and full-width alike; names by UniDic's
person-name tag (人名), which knows Japanese family and given names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.tokenizer import tagger

__all__ = ["LABELS", "Span", "mask", "personal_spans", "without_personal"]

LABELS = {"phone": "〔電話番号〕", "email": "〔メール〕", "address": "〔住所〕", "name": "〔氏名〕"}

_D = "[0-9０-９]"
_DASH = "[-－‐−―ー]"
_KANJI_NUM = "[0-9０-９一二三四五六七八九十]"
_PATTERNS = (
    (
        "email",
        re.compile(
            r"[A-Za-z0-9._%+\-ａ-ｚＡ-Ｚ０-９]+[@＠][A-Za-z0-9\-ａ-ｚＡ-Ｚ０-９]+(?:[.．][A-Za-zａ-ｚＡ-Ｚ]+)+"
        ),
    ),
    (
        "phone",
        re.compile(
            rf"(?<!{_D})(?:[0０]|[+＋][8８][1１](?:{_DASH}|\s)?){_D}{{1,4}}(?:{_DASH}|[\s(（)）]){{0,2}}"
            rf"{_D}{{1,4}}(?:{_DASH}|[\s)）])?{_D}{{3,4}}(?!{_D})"
        ),
    ),
    (
        "address",
        re.compile(
            rf"[一-龥ヶケ々]{{0,12}}(?:{_KANJI_NUM}+丁目(?:{_D}+(?:番地?|{_DASH}))?(?:{_D}+号?)?"
            rf"|{_D}+番地?(?:{_D}+号?)?"
            rf"|(?<=[一-龥ヶケ々])(?<!施策)(?<!章){_D}+{_DASH}{_D}+(?:{_DASH}{_D}+)?)"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str  # a key of LABELS


def _names(text: str) -> list[Span]:
    spans, position = [], 0
    for word in tagger()(text):
        start = text.find(word.surface, position)
        if start < 0:  # the tagger normalised something: stop rather than mask the wrong characters
            break
        position = start + len(word.surface)
        if word.feature.pos3 == "人名":
            spans.append(Span(start, position, "name"))
    return spans


def personal_spans(text: str) -> list[Span]:
    """Where `text` holds personal details, in order, not overlapping.

    Kinds are taken in order of certainty (mail, phone, address, name), so 電話048-463-1111
    is a phone number even though 電話 + digits would also read as an address.
    """
    chosen: list[Span] = []
    found = [[Span(m.start(), m.end(), kind) for m in pattern.finditer(text)] for kind, pattern in _PATTERNS]
    for spans in [*found, _names(text)]:
        chosen += [
            s for s in spans if s.end > s.start and all(s.end <= c.start or s.start >= c.end for c in chosen)
        ]
    merged: list[Span] = []
    for span in sorted(chosen, key=lambda s: s.start):
        if merged and merged[-1].kind == span.kind == "name" and merged[-1].end == span.start:
            merged[-1] = Span(merged[-1].start, span.end, "name")  # 山田 + 太郎: one name
        else:
            merged.append(span)
    return merged


def _replace(text: str, labels: dict[str, str]) -> str:
    out, position = [], 0
    for span in personal_spans(text):
        out += [text[position : span.start], labels[span.kind]]
        position = span.end
    return "".join([*out, text[position:]])


def mask(text: str) -> str:
    """`text` with each personal detail replaced by its label: 〔電話番号〕 and so on."""
    return _replace(text, LABELS)


def without_personal(text: str) -> str:
    """`text` with personal details cut out (for word counts: a name never becomes a topic)."""
    return _replace(text, dict.fromkeys(LABELS, " "))

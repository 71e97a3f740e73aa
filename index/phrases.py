"""Thesaurus phrases found in a question: the same words in order, linked alike, meant alike.

A thesaurus word whose tokenization loses content (市役所が古い is 役所 + 古い, since 市 is the
city itself; 人が集まらない would be 集まる) cannot match by its terms, and matching it only as
written misses how residents vary it (朝霞市役所は古かった, 市役所って古くない？). So it matches as
its phrase (`index.tokenizer` reads both sides into words with the particles after each): its
words in the same order within one sentence, joined by particles of the same case or none, and
not turned around by a negation or 〜づらい that closes the clause (a negation asked, feared or
guarded against keeps the topic: 古くない？, 追い出されないか心配, 盗まれないように).
"""

from __future__ import annotations

from .tokenizer import Worded

__all__ = ["matched_as_phrase", "said_at"]


# What a particle links: a word's phrase matches when the question links its words the same way
# (市役所が古い: 市役所は古い, 市役所って古い, 市役所古い, 人の集まる; not 市役所に古い自転車, 家で古い服).
# Focus particles (は, も, だけ …) stand for が or を.
_CASES = {
    "が": "subject",
    "の": "subject",
    "を": "object",
    "に": "goal",
    "へ": "goal",
    "で": "place",
    "と": "with",
    "て": "then",
    "から": "from",
    "まで": "until",
}
_FOCUS = ("は", "も", "って", "とか", "だけ", "しか", "など", "ばかり", "さえ")
# What turns a phrase around when it closes its clause (集まってこない, 住みたくない, 古くない,
# 集まりづらい): a negation, or hard to. A wish does not (店を始めたい), nor a negation asked
# (古くない？), feared (追い出されないか心配) or guarded against (盗まれないように, ためには).
_TURNS = frozenset({"ない", "無い", "辛い", "難い"})
_NOT_TURNING_AFTER = frozenset({"様", "為"})
# Endings shown with the words they follow when a match is explained.
_ENDINGS = frozenset({"た", "ない", "無い", "たい", "だ"})
# Auxiliaries as a phrase holds them (negations read as ない).
_AUXILIARIES = frozenset({"ない", "たい", "れる", "られる", "せる", "させる", "た", "だ"})


def matched_as_phrase(wanted: tuple[tuple[str, str], ...]) -> bool:
    """A thesaurus word of words joined by particles (市役所が古い) or of one word and its endings
    (住みたい, 追い出される) is matched as a phrase; words written together (居場所, 朝どれ) only as
    written: read as a phrase, 居場所 would be いる場所."""
    if len(wanted) < 2:
        return False
    return any(link for _lemma, link in wanted[:-1]) or all(
        lemma in _AUXILIARIES for lemma, _link in wanted[1:]
    )


def said_at(
    phrase: tuple[Worded, ...], index: int, wanted: tuple[tuple[str, str], ...], text: str
) -> int | None:
    """Where the question's words say `wanted` from `index` (the same words, linked alike, and not
    turned around by what follows) end, with the endings attached to the last (来た, 古くない);
    None when they do not."""
    end = index + len(wanted)
    if end > len(phrase):
        return None
    last = len(wanted) - 1
    for k, ((lemma, link), word) in enumerate(zip(wanted, phrase[index:end], strict=True)):
        if word.lemma != lemma or (k < last and not _linked_alike(link, word.link)):
            return None
    if _turned(phrase, end, text):
        return None
    while end < len(phrase) and not phrase[end - 1].link and phrase[end].lemma in _ENDINGS:
        end += 1
    return phrase[end - 1].end


def _linked_alike(entry: str, asked: str) -> bool:
    """Words the thesaurus joins without a particle (朝どれ, 鍵かけ) take none, or を; with one, the
    question may drop it or use one of the same case."""
    if not entry:
        return asked in ("", "を")
    if not asked:
        return True
    cases = {_case(entry), _case(asked)}
    return len(cases) == 1 or ("focus" in cases and cases <= {"focus", "subject", "object"})


def _case(link: str) -> str:
    """The case a particle marks ("focus" for は, も, って …; the particle itself when unknown)."""
    if link.startswith(_FOCUS):
        return "focus"
    return _CASES.get(link[:2]) or _CASES.get(link[:1]) or link


def _turned(phrase: tuple[Worded, ...], end: int, text: str) -> bool:
    """A negation or 〜づらい closes the clause right after the words that end at `end`."""
    previous = phrase[end - 1]
    for position in range(end, min(end + 2, len(phrase))):
        word = phrase[position]
        if previous.link not in ("", "て"):
            return False
        if word.lemma in _TURNS:
            following = phrase[position + 1].lemma if position + 1 < len(phrase) else ""
            asked = text[word.end : word.end + 1] == "?"
            return not (asked or word.link.startswith(("か", "で")) or following in _NOT_TURNING_AFTER)
        previous = word
    return False

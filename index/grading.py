"""How far the plan answers a question: which words carry information, and what a
question asks for that a plan of aims and measures never lists.

Some words say nothing about a question's topic although the plan uses them (相談,
窓口, 住民, 施設): residents pair them with every topic. Their weight is measured, not
listed: a word's *spread* is the number of the plan's major measures it is tied to,
through the plan's own text and through the thesaurus, whose resident words are the
ways residents ask about each plan word. A word tied to one or two measures is fully
informative; one tied to a third of the plan is worth about half as much, and such
words can never make an answer on their own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["OTHER_BODY_CUES", "PROCEDURES", "information", "operator_requests", "procedure_asked"]

# When, where, how much (in Japanese and English), and the words after them that make them no question:
# いつも (always), いつか (some day), いつの間に (before one knew), どこも (everywhere),
# どこか (somewhere), どこまで (how far along).
_INTERROGATIVES = {
    "何時": frozenset({"も", "か", "の"}),
    "何処": frozenset({"も", "か", "まで"}),
    "幾ら": frozenset({"も", "か"}),
}
# English asks where or when by opening a sentence with it; elsewhere the word joins
# clauses ("a park where kids can play").
_ENGLISH_INTERROGATIVES = frozenset({"where", "when"})
_CLAUSE_STARTS = frozenset({"", "and", "but", "so", "or", "then"})
# English verbs of applying or booking count only as verbs (after I, we, you, to):
# "book a court", not "borrow a book".
_ENGLISH_PROCEDURE_VERBS = frozenset({"apply", "book", "reserve", "register", "sign", "enrol", "enroll"})
_ENGLISH_SUBJECTS = frozenset({"i", "we", "you", "to"})
# Things a resident applies for, pays or calls: asked for when the question asks.
PROCEDURES = frozenset(
    "手続き 手続く 申し込み 申し込む 申込 申請 申請書 届け出 届け出る 予約 受付 受け付ける 締め切り 締切 "
    "料金 手数料 値段 電話番号 連絡先 営業時間 開館時間 必要書類 持ち物 application booking reservation "
    "registration deadline fee fees price prices cost costs hours timetable".split()
)
# How many or how much of something (何メートル, 何人, 何パーセント), unless followed by も
# (何回も, 何年も: many times, for years).
_COUNTERS = frozenset("パーセント メートル キロ 円 人 歳 回 件 個 倍 年 時間 日 割".split())
# A question asks (rather than states or complains) when it says so.
_ASKING = frozenset("教える 知る 方法 仕方 やり方 分かる how".split())
# How much or how many, and what time, asked in English.
_ENGLISH_AMOUNTS = (("how", "much"), ("how", "many"), ("how", "long"), ("what", "time"))
# Organisations whose services the city's plan does not run: the national and
# prefectural governments and their offices, railways and other companies (and see
# operator_requests: a railway's trains as the object of a request).
OTHER_BODY_CUES = frozenset(
    "国 県 埼玉県 県立 県営 国立 国営 国税 税務署 消費税 所得税 年金事務所 ハローワーク 警察署 郵便局 "
    "銀行 鉄道 鉄道会社 jr 東武 東上線 武蔵野線 電力会社 携帯会社 確定申告 年末調整 パスポート 大使館 入管 "
    "national prefecture prefectural embassy immigration passport bank railway tobu".split()
)


# A railway's or a bus company's own service: trains, their timetable, company-run buses. The
# city runs a community bus, so バス alone is not here. Lemmas, or two lemmas written together
# (路線バス is read 路線 + バス).
_OPERATOR_SERVICES = frozenset(
    "電車 列車 終電 始発 急行 快速 特急 準急 各駅停車 ダイヤ 路線バス バス会社 東武バス 西武バス "
    "国際興業".split()
)
# Verbs that ask an operator to change its service (伸ばす is how 延ばす is read).
_SERVICE_CHANGES = frozenset(
    "増やす 減らす 伸ばす 延ばす 延長 止める 停める 停車 増便 増発 走らせる 早める 遅らせる 残す 廃止".split()
)
# Where an object phrase ends before its verb: で (電車で通勤), ので (read の + だ), から, a verb.
_PHRASE_ENDS = frozenset("で だ から ため けど けれど 為る て 、 。".split())
_OBJECT_SPAN = 6  # lemmas from the service word to its verb (急行 を 朝霞 駅 に も 止める)


def operator_requests(lemmas: Sequence[str]) -> frozenset[str]:
    """The railway or bus-company services a question asks to change: a service word that is the
    object of a verb of changing (「電車の本数を増やして」, 「急行を朝霞駅にも止めて」), not one
    that only sets the scene (「電車で通勤するので保育園を増やして」)."""
    found: set[str] = set()
    pairs = [*("".join(pair) for pair in itertools.pairwise(lemmas)), ""]
    for start, (lemma, pair) in enumerate(zip(lemmas, pairs, strict=True)):
        service = pair if pair in _OPERATOR_SERVICES else lemma if lemma in _OPERATOR_SERVICES else None
        if service is None:
            continue
        for following in lemmas[start + 1 : start + 1 + _OBJECT_SPAN]:
            if following in _SERVICE_CHANGES:
                found.add(service)
                break
            if following in _PHRASE_ENDS:
                break
    return frozenset(found)


def procedure_asked(lemmas: Sequence[str], text: str) -> frozenset[str]:
    """The procedure, date, place or fee words a question asks for (lemmas, in order)."""
    after = (*lemmas[1:], "", "")
    asked = {
        lemma
        for lemma, following in zip(lemmas, after, strict=False)
        if lemma in _INTERROGATIVES and following not in _INTERROGATIVES[lemma]
    }
    asked.update(
        "何" + counter
        for lemma, counter, then in zip(lemmas, after, after[1:], strict=False)
        if lemma == "何" and counter in _COUNTERS and then != "も"
    )
    asked.update(" ".join(pair) for pair in itertools.pairwise(lemmas) if pair in _ENGLISH_AMOUNTS)
    before = ("", *(lemma if lemma.isalpha() else "" for lemma in lemmas))
    asked.update(
        lemma
        for lemma, previous in zip(lemmas, before, strict=False)
        if (lemma in _ENGLISH_INTERROGATIVES and previous in _CLAUSE_STARTS)
        or (lemma in _ENGLISH_PROCEDURE_VERBS and previous in _ENGLISH_SUBJECTS)
    )
    asking = "?" in text or text.rstrip("。 ").endswith("か") or not _ASKING.isdisjoint(lemmas)
    if asking:
        asked.update(lemma for lemma in lemmas if lemma in PROCEDURES)
    return frozenset(asked)


# A word tied to this many measures or fewer is fully informative.
_SPECIFIC_SPREAD = 2


def information(
    chunk_terms: Sequence[frozenset[str]],
    chunk_measures: Sequence[str],
    asked_for: Iterable[tuple[Iterable[str], frozenset[str]]],
) -> Mapping[str, float]:
    """Each term's information in (0, 1]: 1 for a term tied to few major measures,
    falling with the log of its spread.

    `chunk_terms[i]` are chunk i's terms and `chunk_measures[i]` its major measure;
    `asked_for` pairs a thesaurus resident word's terms with the plan terms it stands for.
    """
    measures_of: dict[str, set[str]] = {}
    for found, measure in zip(chunk_terms, chunk_measures, strict=True):
        for term in found:
            measures_of.setdefault(term, set()).add(measure)
    targets_of: dict[frozenset[str], set[str]] = {}
    for resident_terms, plan_terms in asked_for:
        targets = targets_of.get(plan_terms)
        if targets is None:
            targets = targets_of[plan_terms] = _targets(plan_terms, chunk_terms, chunk_measures)
        for term in resident_terms:
            measures_of.setdefault(term, set()).update(targets)
    total = len(set(chunk_measures))
    scale = math.log((total + 1) / (_SPECIFIC_SPREAD + 1))
    return {
        term: max(0.05, min(1.0, math.log((total + 1) / (len(measures) + 1)) / scale))
        for term, measures in measures_of.items()
        if measures
    }


def _targets(
    plan_terms: frozenset[str], chunk_terms: Sequence[frozenset[str]], chunk_measures: Sequence[str]
) -> set[str]:
    """The measures whose chunks hold all of a plan phrase's terms."""
    return {
        measure for found, measure in zip(chunk_terms, chunk_measures, strict=True) if plan_terms <= found
    }

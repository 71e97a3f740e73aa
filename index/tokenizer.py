"""Japanese normalisation and tokenization for the plan index and residents' questions.

Residents and the plan spell the same word differently (ゴミ/ごみ, 子ども/こども,
ｺﾞﾐ/ゴミ, ＤＸ/DX), so both sides go through the same pipeline: NFKC, then fugashi
with unidic-lite, keeping content words keyed by their lemma. The lemma is only a
search key and is never shown to a resident.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import fugashi

__all__ = [
    "Analysis",
    "Placer",
    "Reading",
    "Respelling",
    "Token",
    "Worded",
    "analyse",
    "content_key",
    "has_kanji",
    "hiragana",
    "is_latin_word",
    "kana_of",
    "normalize",
    "read",
    "tagger",
    "terms",
    "tokenize",
]

# Parts of speech whose words carry meaning for search.
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "代名詞"})
# Parts of speech that never stand alone but glue onto a neighbouring noun
# (保育+園, 公民+館, 地域防災+力): kept only inside joined compounds.
_AFFIX_POS = frozenset({"接頭辞", "接尾辞"})
# Sub-categories that carry no meaning on their own (する, ある, こと, もの...).
_FUNCTION_POS2 = frozenset({"非自立可能", "助動詞語幹", "数詞"})

# Lemmas that appear in almost every question but say nothing about its topic:
# request phrasing, generic verbs and the city itself.
STOP_LEMMAS = frozenset(
    """
    教える 欲しい 知る 思う 言う 有る 在る 居る 為る 成る 出来る 良い 無い 分かる 聞く
    見る 来る 行く 呉れる 貰う 遣る 下さる 頂く 御座る 願う 聞こえる 困る 大丈夫 本当
    事 物 為 様 所 方 時 今 何 誰 其れ 此れ 彼れ どう 如何 辺り 位 等 皆
    何処 何時 何れ 何方 何故 幾ら 幾つ
    市 朝霞 私 僕 俺 自分 うち 家 人 方々 皆さん 感じ 最近 ちゃんと 色々
    質問 回答 ありがとう 宜しい 御願い 知りたい 件 ここ そこ あそこ こちら 関係 について
    """.split()
)

_ENGLISH_STOP = frozenset(
    """
    a an the is are was were be been am i you we they he she it my your our their me us
    what where when who how why which can could would should do does did will shall may
    there here this that these those of to in on at for from with about and or not no
    any some please tell know want get have has had need help city asaka home house
    much many more most very also just like
    """.split()
)

_ASCII_WORD = re.compile(r"^[a-z0-9][a-z0-9'\-]*$")


@dataclass(frozen=True, slots=True)
class Token:
    """One content word: `key` is what the index matches on, `surface` what was written,
    `kana` how it reads with its kanji in hiragana (katakana and Latin kept as written)."""

    key: str
    surface: str
    pos: str
    kana: str = ""


_KANJI = re.compile(r"[\u3400-\u9fff々〆]")


def has_kanji(text: str) -> bool:
    return _KANJI.search(text) is not None


_HIRAGANA = str.maketrans({chr(code): chr(code - 0x60) for code in range(ord("ァ"), ord("ヶ") + 1)})


def is_latin_word(text: str) -> bool:
    """Letters of the Latin alphabet only (an English word, or romaji)."""
    return text.isascii() and text.isalpha()


def hiragana(text: str) -> str:
    """Katakana turned into hiragana (スマホ -> すまほ); everything else as written."""
    return text.translate(_HIRAGANA)


def kana_of(word: fugashi.UnidicNode) -> str:
    """How a word reads as a resident without its kanji would type it: unidic's reading
    of the word in context, in hiragana, for words written with kanji; others as written."""
    reading = getattr(word.feature, "kana", None)
    if has_kanji(word.surface) and reading and reading != "*":
        return hiragana(reading)
    return word.surface


def normalize(text: str) -> str:
    """NFKC (full/half width), lowercase Latin letters, collapse whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_local = threading.local()


def tagger() -> fugashi.Tagger:
    """This thread's tagger. A fugashi tagger reuses its nodes, so one shared by threads
    (the event loop, the plan poller, the staff pages) would hand one thread another's words."""
    tagger = getattr(_local, "tagger", None)
    if tagger is None:
        tagger = _local.tagger = fugashi.Tagger()
    return tagger


def _english_key(surface: str) -> str | None:
    word = surface.strip("'-")
    if not _ASCII_WORD.match(word) or word in _ENGLISH_STOP or word.isdigit():
        return None
    # A light plural fold so "parks"/"park" and "buses"/"bus" meet.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is", "us")):
        return word[:-1]
    return word


def _key(word: fugashi.UnidicNode) -> str:
    feature = word.feature
    lemma = getattr(feature, "lemma", None)
    if not lemma or word.is_unk or feature.pos2 == "固有名詞":
        return word.surface.lower()
    # Loanword lemmas carry their origin ("リサイクル-recycle"); the key is the word.
    return lemma.split("-", 1)[0]


def content_key(word: fugashi.UnidicNode) -> str | None:
    """The index key of a word that carries meaning; None for grammar and stop words."""
    feature = word.feature
    if word.is_unk and word.surface.isascii():
        return _english_key(word.surface.lower())
    if feature.pos1 not in _CONTENT_POS or feature.pos2 in _FUNCTION_POS2:
        return None
    key = _key(word)
    if key in STOP_LEMMAS or (len(key) == 1 and key.isascii()):
        return None
    return key


def _is_compound_part(word: fugashi.UnidicNode) -> bool:
    feature = word.feature
    return feature.pos1 in _AFFIX_POS or (feature.pos1 == "名詞" and feature.pos2 != "数詞")


def tokenize(text: str) -> list[Token]:
    """Content words of `text` in order, plus joined forms of split compounds.

    fugashi splits 保育園 into 保育 + 園 and 地域防災力 into 地域 + 防災 + 力; each
    adjacent pair of nouns/affixes is also emitted joined, so a question saying
    保育園 matches a plan text saying 保育園 more strongly than one saying only 保育.
    """
    return _tokens(list(tagger()(normalize(text))))


def _tokens(words: list[fugashi.UnidicNode], *, kana: bool = True) -> list[Token]:
    """Content words and joined compounds; with `kana`, their readings too (the index
    files plan words by reading; a question's words need none)."""
    readings = [kana_of(word) for word in words] if kana else [""] * len(words)
    tokens: list[Token] = []
    for index, word in enumerate(words):
        key = content_key(word)
        if key is not None:
            tokens.append(Token(key, word.surface, word.feature.pos1, readings[index]))
        if index + 1 < len(words):
            joined = _joined(word, words[index + 1], readings[index] + readings[index + 1])
            if joined is not None:
                tokens.append(joined)
    return tokens


def _joined(left: fugashi.UnidicNode, right: fugashi.UnidicNode, kana: str) -> Token | None:
    """The compound two adjacent words form, if they form one."""
    if left.is_unk or right.is_unk or not _is_compound_part(right) or right.feature.pos1 == "接頭辞":
        return None
    surface = left.surface + right.surface
    if left.feature.pos1 == "動詞" and str(left.feature.cForm).startswith("連用形"):
        # A verb stem glued to a noun is one word that unidic-lite split: 居場所 = 居 + 場所.
        return Token(left.surface + _key(right), surface, "複合", kana)
    parts = (_key(left), _key(right))
    if _is_compound_part(left) and left.feature.pos1 != "接尾辞" and not STOP_LEMMAS.intersection(parts):
        return Token("".join(parts), surface, "複合", kana)
    return None


def terms(text: str) -> list[str]:
    """Just the index keys of `text` (what BM25 sees)."""
    return [token.key for token in tokenize(text)]


@dataclass(frozen=True, slots=True)
class Respelling:
    """A question with words typed in kana rewritten as the words they read as:
    `text` is the rewritten question, `spelled` pairs each written form with the kana typed."""

    text: str
    spelled: tuple[tuple[str, str], ...]


# Finds the words a question's kana stands for (see index.kana); None when it has none.
Respeller = Callable[[list[fugashi.UnidicNode]], Respelling | None]
# Finds the municipalities a question names (see index.places).
Placer = Callable[[list[fugashi.UnidicNode]], frozenset[str]]


class Worded(NamedTuple):
    """A word of a phrase: its lemma, where it is written in the text, and the particles
    that link it to the next word ("" when none). The end of a sentence is a word of lemma ""."""

    lemma: str
    start: int
    end: int
    link: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """A question read once: its normalized text (kana words respelled), its content words,
    the lemmas of all its words (request phrasing included), its phrase (each word but
    particles, politeness and commas, with the particles after it, for thesaurus phrases), the
    municipalities it names, and the written forms its kana was read as, with the kana typed."""

    text: str
    tokens: tuple[Token, ...]
    lemmas: tuple[str, ...]
    places: frozenset[str]
    spelled: tuple[tuple[str, str], ...]
    phrase: tuple[Worded, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(token.key for token in self.tokens)


def read(question: str, respell: Respeller | None = None, places: Placer | None = None) -> Reading:
    """Everything search needs from a question (the answer's hot path): one tagger pass,
    and a second only when words typed in kana are respelled. Municipalities are found
    in the question as typed (respelling reads kana as plan words, never as places)."""
    text = normalize(question)
    words = list(tagger()(text))
    named = places(words) if places is not None else frozenset()
    spelled: tuple[tuple[str, str], ...] = ()
    respelling = respell(words) if respell is not None else None
    if respelling is not None:
        text, spelled = respelling.text, respelling.spelled
        words = list(tagger()(text))
    lemmas = tuple(_key(word) for word in words)
    return Reading(text, tuple(_tokens(words, kana=False)), lemmas, named, spelled, _phrase(words, lemmas))


# A phrase is its words without politeness or commas (市役所、古いです says 市役所古い), each with
# the particles after it; the end of a sentence ends it. Other auxiliaries stay: ない and た change
# what it says.
_PUNCTUATION_POS = frozenset({"補助記号", "空白", "記号"})
_SENTENCE_ENDS = frozenset("。!?.…")
_POLITE = frozenset({"ます", "です"})
_BE = frozenset({"有る", "御座る"})  # ありません, ございません: ない
# Auxiliaries that negate: a word that loses one says the opposite (集まらない is not 集まる).
_NEGATIONS = frozenset({"ない", "ず"})
# Auxiliaries that change what a lone word says: not, want to, passive or potential, causative.
_MEANINGFUL = _NEGATIONS | {"たい", "れる", "られる", "せる", "させる"}


def _phrase(words: list[fugashi.UnidicNode], lemmas: tuple[str, ...]) -> tuple[Worded, ...]:
    """The words that are not particles, politeness or commas, in order, each with its lemma
    (negations as ない, ある or ござる + a negation as 無い), its place in the text the words were
    read from, and the particles after it; the end of a sentence is a word no phrase holds."""
    phrase: list[Worded] = []
    end = 0
    for word, lemma in zip(words, lemmas, strict=True):
        start = end + len(word.white_space)
        end = start + len(word.surface)
        pos = word.feature.pos1
        if pos == "助詞":
            if phrase:
                phrase[-1] = phrase[-1]._replace(link=phrase[-1].link + word.surface)
            continue
        if pos in _PUNCTUATION_POS:
            if word.surface in _SENTENCE_ENDS:
                phrase.append(Worded("", start, end))
            continue
        if pos == "助動詞":
            if lemma in _POLITE:
                continue
            if lemma in _NEGATIONS:
                if phrase and phrase[-1].lemma in _BE and not phrase[-1].link:
                    phrase[-1] = phrase[-1]._replace(lemma="無い", end=end)
                    continue
                lemma = "ない"
        phrase.append(Worded(lemma, start, end))
    return tuple(phrase)


def _changes_sense(word: fugashi.UnidicNode) -> bool:
    return bool(word.feature.pos1 == "助動詞" and _key(word) in _MEANINGFUL)


# Parts of speech that carry grammar, not meaning: dropping them loses nothing.
_GRAMMAR_POS = frozenset({"助詞", "助動詞", "補助記号", "空白", "記号"})


class Analysis(NamedTuple):
    """A thesaurus word analysed: its terms, whether they stand for the whole word, its
    kana, the (kana, written) pairs of its words, and its phrase: (lemma, particles after it)
    of each word but particles, politeness and punctuation, negations read as ない (what a
    question must say in that order, when the terms lose content; see `index.phrases`)."""

    terms: tuple[str, ...]
    lossless: bool
    kana: str
    spellings: tuple[tuple[str, str], ...]
    phrase: tuple[tuple[str, str], ...]


@lru_cache(maxsize=32768)
def analyse(text: str) -> Analysis:
    """A thesaurus word in one tagger pass, cached: thousands of resident words are
    compiled at every index build, many of them more than once.

    Lossless means tokenizing dropped only grammar, so the terms stand for the whole
    word. unidic-lite splits some words oddly (居場所 → 居 + 場所, with 居 read as the
    verb 居る); such a word's terms would match far more than the word itself.
    """
    words = list(tagger()(normalize(text)))
    kana = "".join(word.white_space + kana_of(word) for word in words)
    tokens = _tokens(words)
    spellings = tuple((token.kana, token.surface) for token in tokens)
    phrase = tuple((w.lemma, w.link) for w in _phrase(words, tuple(_key(word) for word in words)) if w.lemma)
    return Analysis(tuple(token.key for token in tokens), _lossless(words), kana, spellings, phrase)


def _lossless(words: list[fugashi.UnidicNode]) -> bool:
    content = sum(content_key(word) is not None for word in words)
    if content < 2 and any(_changes_sense(word) for word in words):
        return False  # 集まらない would be 集まる, 住みたい 住む: one word that says less or the opposite
    for word in words:
        if word.feature.pos1 in _GRAMMAR_POS or content_key(word) is not None:
            continue
        if word.feature.pos1 in _AFFIX_POS or is_latin_word(word.surface):
            continue  # glued into a joined compound; or an English function word (a, for, to)
        return False
    return True

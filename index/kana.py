"""Questions typed in kana: the plan's and the thesaurus's words found by how they read.

Residents who cannot write or convert a word type it in hiragana (にんちしょう for
認知症, すまほ for スマホ). unidic gives every word of the plan and the thesaurus its
reading, so each written word with kanji or katakana is filed under its reading in
hiragana; a question's runs of kana are then looked up (in hiragana too) and respelled
as the words they read as, and searched like any question.

Short readings are ambiguous (し, き, かい, こう), so a reading must span whole words
of the question as the tagger split them, not start at an ending attached to an
inflected word, and be at least three kana long (two kana only for a lone noun with
one possible spelling). A lone kana word the tagger already reads as a word the index
knows, or as a time or amount (きのう, いま), keeps that reading: the resident's own
word is preferred to a guess.

People who type without converting also write long vowels as ー (じどーかん), the tagger
splits an unknown word before って (しょうひぜいって is しょう + ひ + ぜ + いっ + て), and some
type romaji (hoikuen): those are read too (see `_longest_match` and `_romaji`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import fugashi

from .places import romaji_readings
from .tokenizer import Respelling, content_key, has_kanji, hiragana, is_latin_word

__all__ = ["KanaReadings"]

# A reading must be this long to be trusted across word boundaries; a lone noun may be one shorter.
MIN_READING = 3
_KANA = re.compile(r"^[\u3041-\u309f\u30a1-\u30ffー]+$")
# Words that inflect, and the endings that attach to them (来+た, 食べ+て): a word cannot
# start at an ending the tagger attached to an inflected word (きたようで is not き+多様).
_INFLECTING = frozenset({"動詞", "形容詞", "助動詞"})
_ENDINGS = frozenset({"助詞", "助動詞"})
# A long vowel typed as ー after hiragana (じどーかん, しょーぼーだん) is the vowel kana stands for:
# あ after an a sound, い after an i or e sound (せんせー), う after a u sound, and う or お after an
# o sound (こーえん is こうえん, おーがた おおがた). Such a reading must be four kana or more: こーり
# (ice) is not 小売.
_VOWEL_ROWS = {
    "あ": "あかさたなはまやらわがざだばぱぁゃゎ",
    "い": "いきしちにひみりぎじぢびぴぃえけせてねへめれげぜでべぺぇ",
    "う": "うくすつぬふむゆるぐずづぶぷぅゅ",
}
_O_ROW = "おこそとのほもよろをごぞどぼぽぉょ"
_LONG_VOWEL = re.compile(r"([\u3041-\u3096])ー")
_VOWEL_OF = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}
MIN_LENGTHENED = 4
# A Latin word typed for a Japanese one (hoikuen, toshokan, koen) must read as this many kana or
# more, and is read only in a Japanese message or before a romaji particle (toshokan no jikan):
# in English, Kenshin and Takahashi are names.
MIN_ROMAJI = 4
_ROMAJI_PARTICLES = frozenset("no wa ga ni wo de to mo".split())


def _time_word(word: fugashi.UnidicNode) -> bool:
    """A time or amount (きのう, きょう, いま): a noun that can be used as an adverb."""
    return bool(word.feature.pos3 == "副詞可能")


def _lengthened(run: str) -> list[str]:
    """The readings of four kana or more a run typed with ー may stand for (none when it has no
    ー after hiragana)."""
    if not _LONG_VOWEL.search(run):
        return []
    readings = {_with_vowels(run, o_sound): None for o_sound in "うお"}
    return [reading for reading in readings if len(reading) >= MIN_LENGTHENED]


def _with_vowels(run: str, o_sound: str) -> str:
    """`run` with each ー after hiragana written as its vowel, `o_sound` after an o sound."""

    def vowel(match: re.Match[str]) -> str:
        kana = match[1]
        return kana + (o_sound if kana in _O_ROW else _VOWEL_OF.get(kana, "ー"))

    return _LONG_VOWEL.sub(vowel, run)


class KanaReadings:
    """Written words filed by their kana; `respell` is the read step's respeller."""

    def __init__(self, words: Iterable[tuple[str, str]], known: frozenset[str]) -> None:
        """`words` are (kana, written form) pairs; `known` the keys the index can match."""
        spellings: dict[str, dict[str, None]] = {}
        for reading, written in words:
            kana = hiragana(reading)
            if kana != written and len(kana) >= MIN_READING - 1 and _KANA.match(kana):
                spellings.setdefault(kana, {})[written] = None
        self._spellings = {kana: tuple(written) for kana, written in spellings.items()}
        self._longest = max(map(len, self._spellings), default=0)
        self._known = known

    def __len__(self) -> int:
        return len(self._spellings)

    def respell(self, words: list[fugashi.UnidicNode]) -> Respelling | None:
        """The question with its kana runs, and in a Japanese message its romaji, respelled;
        None when nothing was read differently."""
        surfaces = [word.surface for word in words]
        kana = [_KANA.match(surface) is not None for surface in surfaces]
        if not any(kana) and not any(map(is_latin_word, surfaces)):
            return None
        japanese = not all(surface.isascii() for surface in surfaces)
        pieces: list[str] = []
        spelled: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            found = self._longest_match(words, surfaces, kana, i) if kana[i] else None
            if found is None:
                following = surfaces[i + 1].lower() if i + 1 < len(words) else ""
                romaji = self._romaji(surfaces[i]) if japanese or following in _ROMAJI_PARTICLES else ()
                pieces.append(words[i].white_space + ("・".join(romaji) if romaji else surfaces[i]))
                spelled += [(form, surfaces[i]) for form in romaji]
                i += 1
                continue
            end, written, rest = found
            typed = "".join(surfaces[i:end])  # as typed, katakana kept (ネット, not ねっと)
            pieces.append(words[i].white_space + "・".join(written) + rest)
            spelled += [(form, typed[: len(typed) - len(rest)]) for form in written]
            i = end
        if not spelled:
            return None
        return Respelling("".join(pieces), tuple(spelled))

    def _longest_match(
        self, words: list[fugashi.UnidicNode], surfaces: list[str], kana: list[bool], start: int
    ) -> tuple[int, tuple[str, ...], str] | None:
        """The longest run of whole kana words from `start` that reads as a known written word
        (as typed, with its ー read as vowels, or without the っ the tagger split off before て):
        where it ends, the written forms, and the kana of its last word not read ("" or "っ").

        Kanji, punctuation, Latin and spaces end a run (unidic-lite tags kana it cannot
        read as symbols: they still belong to the run).
        """
        runs: list[tuple[int, str, str]] = []  # (end, reading, what is left of the last word)
        reading = ""
        for end in range(start, len(words)):
            if not kana[end] or (end > start and words[end].white_space):
                break
            reading += hiragana(surfaces[end])
            if len(reading) > self._longest:
                break
            # The tagger splits an unknown word before って as …っ + て (しょうひぜいって is
            # しょう + ひ + ぜ + いっ + て): a longer word is read without the っ. Not a short one
            # (はしって), a verb the tagger read whole (ふりかえって), or after a time word
            # (きょうかってきた is 今日買ってきた).
            quoted = surfaces[end + 1 : end + 2] == ["て"] and surfaces[end].endswith("っ")
            verb = end == start and words[end].feature.pos1 == "動詞"
            if quoted and len(reading) - 1 > MIN_READING and not verb and not _time_word(words[start]):
                runs.append((end + 1, reading[:-1], "っ"))
            runs.append((end + 1, reading, ""))
        for end, run, rest in reversed(runs):
            for reading in (run, *_lengthened(run)):
                written = self._spellings.get(reading)
                if written is not None and self._acceptable(words, start, end, reading, written):
                    return end, written, rest
        return None

    def _romaji(self, surface: str) -> tuple[str, ...]:
        """The written words a Latin word reads as in romaji (hoikuen is 保育園): only words of
        four kana or more, all written with kanji; or none."""
        if not is_latin_word(surface):
            return ()
        for reading in romaji_readings(surface.lower(), MIN_ROMAJI - 1):  # koen: こ-え-ん is こうえん
            written = self._spellings.get(reading, ())
            if len(reading) >= MIN_ROMAJI and written and all(has_kanji(form) for form in written):
                return written
        return ()

    def _acceptable(
        self, words: list[fugashi.UnidicNode], start: int, end: int, reading: str, written: tuple[str, ...]
    ) -> bool:
        """Whether words[start:end] may be read as `written` (see the module's docstring)."""
        if (
            start > 0
            and words[start].feature.pos1 in _ENDINGS
            and words[start - 1].feature.pos1 in _INFLECTING
        ):
            return False
        if end - start > 1:
            return len(reading) >= MIN_READING
        word = words[start]
        if content_key(word) in self._known or _time_word(word):
            # The tagger read this word as one the index knows, or as a time or amount
            # (きのう is 昨日, not 機能): keep its reading.
            return False
        return len(reading) >= MIN_READING or (len(written) == 1 and word.feature.pos1 == "名詞")

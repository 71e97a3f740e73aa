"""The municipalities a question names, written (所沢市) or typed in kana (ところざわしの).

The plan is Asaka's: a question about another city's service is declined whatever
words it shares with the plan. A written name is a word unidic tags as a place
followed by 市, 町, 区, 県…. Typed in kana, the tagger no longer knows most places
(にいざし is read as に + いざ + し), so places are also looked up by their reading:
every place name in unidic's own dictionary is filed under its kana, and a run of
kana that reads as a place, followed by a municipality suffix and a particle
(わこう + し + の), names that place. Nothing is listed by hand.

Short readings are ambiguous (ちか + く + の is 近くの), so a reading the tagger
reads together with its suffix as one word is not a place, inside a run of kana a
place cannot start at a particle, a two-kana reading needs the suffix し and a
particle the tagger reads as one, and と and ふ follow only the prefectures that
take them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import fugashi

from .tokenizer import hiragana, is_latin_word

__all__ = ["PlaceNames", "romaji_readings"]

_WRITTEN_SUFFIXES = frozenset({"市", "町", "村", "区", "県", "都", "府"})
# Suffixes as typed in kana; と and ふ only after the prefectures that take them.
_KANA_SUFFIXES = ("ちょう", "まち", "むら", "けん", "し", "く", "と", "ふ")
_PREFECTURE_SUFFIXES = {"と": frozenset({"とうきょう"}), "ふ": frozenset({"おおさか", "きょうと"})}
_PARTICLE = re.compile(r"(?:の|で|に|は|へ|から|まで|って|では|も|が|や)")
_SUFFIX_THEN_PARTICLE = re.compile(f"(?:{'|'.join(_KANA_SUFFIXES)}){_PARTICLE.pattern}")
_HIRAGANA_RUN = re.compile(r"[\u3041-\u3096ー]+")
_KANJI = re.compile(r"[\u3400-\u9fff々]")
# unidic's entries for place names: reading (lForm) and written form (orth).
_PLACE_ENTRY = re.compile(
    "\0名詞,固有名詞,地名,[^,\0]*,[^,\0]*,[^,\0]*,([^,\0]*),[^,\0]*,([^,\0]*),".encode()
)
_ROMAJI_SUFFIXES = frozenset({"city", "shi", "town", "machi", "ward", "ku", "prefecture", "ken"})
_JAPANESE_ROMAJI_SUFFIXES = frozenset({"shi", "machi", "ku", "ken"})
# Hepburn syllables.
_SYLLABLES = dict(
    zip(
        "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho "
        "ma mi mu me mo ya yu yo ra ri ru re ro wa wo ga gi gu ge go za ji zu ze zo da de do "
        "ba bi bu be bo pa pi pu pe po kya kyu kyo sha shu sho cha chu cho nya nyu nyo hya hyu hyo "
        "mya myu myo rya ryu ryo gya gyu gyo ja ju jo bya byu byo pya pyu pyo n".split(),
        "あ い う え お か き く け こ さ し す せ そ た ち つ て と な に ぬ ね の は ひ ふ へ ほ "
        "ま み む め も や ゆ よ ら り る れ ろ わ を が ぎ ぐ げ ご ざ じ ず ぜ ぞ だ で ど "
        "ば び ぶ べ ぼ ぱ ぴ ぷ ぺ ぽ きゃ きゅ きょ しゃ しゅ しょ ちゃ ちゅ ちょ "
        "にゃ にゅ にょ ひゃ ひゅ ひょ みゃ みゅ みょ りゃ りゅ りょ "
        "ぎゃ ぎゅ ぎょ じゃ じゅ じょ びゃ びゅ びょ ぴゃ ぴゅ ぴょ ん".split(),
        strict=True,
    )
)
# Inside a run of kana a place starts at a word, not at a particle or an ending the
# tagger split off (たびに + じょう + けん is 度に条件, not 二条県); at the run's start it
# may (にいざし is read as に + いざ + し).
_ENDINGS = frozenset({"助詞", "助動詞"})
_CHUNK = 1 << 20
MIN_READING = 2


@cache
def _unidic_places() -> frozenset[str]:
    """The reading of every place name in the tagger's dictionary (read once per process,
    a chunk at a time, so the dictionary is never held in memory whole)."""
    import unidic_lite

    places: set[str] = set()
    carry = b""
    with (Path(unidic_lite.DICDIR) / "sys.dic").open("rb") as file:
        while chunk := file.read(_CHUNK):
            data = carry + chunk
            end = 0
            for match in _PLACE_ENTRY.finditer(data):
                end = match.end()
                reading, written = (part.decode("utf-8", "replace") for part in match.groups())
                kana = hiragana(reading)
                if len(kana) >= MIN_READING and _KANJI.search(written) and _HIRAGANA_RUN.fullmatch(kana):
                    places.add(kana)
            carry = data[max(end, len(data) - 512) :]
    return frozenset(places)


class PlaceNames:
    """Place names' readings; `municipalities` finds the places a question names."""

    def __init__(self, readings: frozenset[str] | None = None) -> None:
        self._readings = _unidic_places() if readings is None else readings
        self._longest = max(map(len, self._readings), default=0)

    def __len__(self) -> int:
        return len(self._readings)

    def municipalities(self, words: list[fugashi.UnidicNode]) -> frozenset[str]:
        """The municipalities `words` name, as written (所沢 for 所沢市, ところざわ for ところざわし)."""
        found = {
            word.surface
            for word, following in itertools.pairwise(words)
            if following.surface in _WRITTEN_SUFFIXES and word.feature.pos3 == "地名"
        }
        found.update(self._romaji(words))
        text = "".join(word.white_space + word.surface for word in words)
        # Where a suffix and a particle follow (most questions have none): a place ends there.
        ends = {match.start() for match in _SUFFIX_THEN_PARTICLE.finditer(text)}
        if not ends:
            return frozenset(found)
        starts: dict[int, int] = {}  # character offset of each word → its index
        offset = 0
        for index, word in enumerate(words):
            offset += len(word.white_space)
            starts[offset] = index
            offset += len(word.surface)
        for run in _HIRAGANA_RUN.finditer(text):
            for start in range(run.start(), run.end()):
                if start in starts and (
                    start == run.start() or words[starts[start]].feature.pos1 not in _ENDINGS
                ):
                    found.update(self._place_at(text, start, run.end(), ends, starts, words))
        return frozenset(found)

    def _place_at(
        self,
        text: str,
        start: int,
        end: int,
        ends: set[int],
        starts: Mapping[int, int],
        words: list[fugashi.UnidicNode],
    ) -> tuple[str, ...]:
        """The place whose reading starts at `start`, followed by a suffix and a particle."""
        for length in range(min(self._longest, end - start), MIN_READING - 1, -1):
            reading = text[start : start + length]
            if start + length not in ends or reading not in self._readings:
                continue
            for suffix in _KANA_SUFFIXES:
                after = start + length + len(suffix)
                if not text.startswith(suffix, start + length) or not _PARTICLE.match(text, after):
                    continue
                if suffix in _PREFECTURE_SUFFIXES and reading not in _PREFECTURE_SUFFIXES[suffix]:
                    continue
                if self._one_word(text, start, after, starts, words) or self._longer(text, start, after, end):
                    continue  # ちかく is 近く, not チカ + 区; むさしの is 武蔵野, not 武佐 + 市
                if length == MIN_READING and (suffix != "し" or after not in starts):
                    continue
                return (reading,)
        return ()

    def _romaji(self, words: list[fugashi.UnidicNode]) -> set[str]:
        """Places written in Latin letters (Tokorozawa, Wako-shi, Niiza City), read as kana,
        with or without the long vowels romaji drops. English words read as romaji too
        (one, China, sakura), so a name needs four syllables on its own, three before city,
        town, ward or prefecture, and two before -shi, -ku, -machi or -ken."""
        latin = [word.surface for word in words if is_latin_word(word.surface)]
        found: set[str] = set()
        for name, following in itertools.zip_longest(latin, latin[1:], fillvalue=""):
            if following in _JAPANESE_ROMAJI_SUFFIXES:
                shortest = 2
            else:
                shortest = 3 if following in _ROMAJI_SUFFIXES else 4
            found.update(reading for reading in romaji_readings(name, shortest) if reading in self._readings)
        return found

    def _longer(self, text: str, start: int, after: int, end: int) -> bool:
        """A longer place's reading starts at `start` and holds the suffix."""
        return any(
            text[start:stop] in self._readings for stop in range(after, min(end, start + self._longest) + 1)
        )

    @staticmethod
    def _one_word(
        text: str, start: int, end: int, starts: Mapping[int, int], words: list[fugashi.UnidicNode]
    ) -> bool:
        """The tagger read text[start:end] as one word (a place is never read with its suffix)."""
        word = words[starts[start]]
        return word.surface == text[start:end] and word.feature.pos3 != "地名"


def _kana_syllables(name: str) -> list[str] | None:
    """A Latin word as Hepburn syllables in hiragana, or None when it is not romaji."""
    syllables: list[str] = []
    i = 0
    while i < len(name):
        if i + 1 < len(name) and name[i] == name[i + 1] and name[i] not in "aeioun":
            syllables.append("っ")  # a doubled consonant: sapporo
            i += 1
            continue
        for length in (3, 2, 1):
            kana = _SYLLABLES.get(name[i : i + length])
            if kana is not None:
                syllables.append(kana)
                i += length
                break
        else:
            return None
    return syllables


def romaji_readings(name: str, shortest: int) -> list[str]:
    """The kana a romanised word (a place, hoikuen) may stand for: romaji drops the long vowels of
    おう and うう (Tokyo is とうきょう, Wako is わこう), so each o or u syllable may take an う."""
    syllables = _kana_syllables(name)
    if syllables is None or not shortest <= len(syllables) <= 8:
        return []
    long = [
        i
        for i, kana in enumerate(syllables)
        if kana[-1] in "おこそとのほもよろごぞどぼぽょうくすつぬふむゆるぐずぶぷゅ"
    ]
    readings = []
    for mask in range(1 << min(len(long), 4)):
        lengthened = list(syllables)
        for bit, i in enumerate(long[:4]):
            if mask >> bit & 1:
                lengthened[i] += "う"
        readings.append("".join(lengthened))
    return readings

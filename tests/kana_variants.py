"""Kana-only variants of labelled questions: `python -m tests.kana_variants IN.jsonl OUT.jsonl`.

Residents who cannot write or convert a word type it in hiragana. This rewrites every
word that contains a kanji in hiragana, from unidic's reading of the word in context
(katakana, Latin letters, digits and emoji stay as written), keeping the labels, so
a set's figures can be compared with its kana variant's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import fugashi

__all__ = ["to_kana"]

_KANJI = re.compile(r"[\u3400-\u9fff々〆]")
_TAGGER = fugashi.Tagger()


def _hiragana(katakana: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in katakana)


def to_kana(text: str) -> str:
    """`text` with each word that contains a kanji written in hiragana."""
    out: list[str] = []
    for word in _TAGGER(text):
        reading = getattr(word.feature, "kana", None)
        written = word.surface
        if _KANJI.search(written) and reading and reading != "*":
            written = _hiragana(reading)
        out.append(word.white_space + written)
    return "".join(out)


def main(source: Path, target: Path) -> None:
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            question = json.loads(line)
            lines.append(json.dumps({**question, "q": to_kana(question["q"])}, ensure_ascii=False))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

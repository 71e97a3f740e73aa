"""Tokenization cases as input/expected tables (the real fugashi + unidic-lite)."""

from __future__ import annotations

import pytest

from index.tokenizer import analyse, normalize, read, terms, tokenize

# (text, keys that must be present)
LEMMA_JOINS = [
    ("ゴミ", {"塵"}),
    ("ごみ", {"塵"}),
    ("子供", {"子供"}),
    ("子ども", {"子供"}),
    ("こども", {"子供"}),
    ("まちづくり", {"町作り"}),
    ("街づくり", {"町作り"}),
    ("町づくり", {"町作り"}),
    ("みどり", {"緑"}),
]

# Full/half width meet after NFKC.
WIDTH = [
    ("ｺﾞﾐ", "ゴミ"),
    ("ＤＸ", "DX"),
    ("ＮＰＯ", "NPO"),
    ("２０２６年", "2026年"),
]

# Unknown words (lemma None) fall back to the lowercased surface.
UNKNOWN = [
    ("SDGs", {"sdg"}),
    ("ＤＸ推進", {"dx"}),
    ("garbage bus", {"garbage", "bus"}),
]

# Request phrasing and function words are dropped: nothing searchable is left.
NOTHING = ["教えてほしい", "どうなるの？", "知りたいです", "ありがとう", "🐈🐈", "！？…", "   ", ""]

# Split compounds are also indexed joined.
COMPOUNDS = [
    ("保育園", {"保育", "保育園"}),
    ("公民館", {"公民", "公民館"}),
    ("地域防災力", {"地域防災", "防災力"}),
    ("居場所", {"居場所"}),  # unidic-lite splits it as the verb stem 居 + 場所
]


@pytest.mark.parametrize(("text", "keys"), LEMMA_JOINS)
def test_lemma_is_the_key(text: str, keys: set[str]) -> None:
    assert keys <= set(terms(text))


@pytest.mark.parametrize(("text", "same_as"), WIDTH)
def test_width_variants_meet(text: str, same_as: str) -> None:
    assert terms(text) == terms(same_as)


@pytest.mark.parametrize(("text", "keys"), UNKNOWN)
def test_unknown_words_use_lowercased_surface(text: str, keys: set[str]) -> None:
    assert keys <= set(terms(text))


@pytest.mark.parametrize("text", NOTHING)
def test_request_phrasing_and_symbols_are_dropped(text: str) -> None:
    assert terms(text) == []


@pytest.mark.parametrize(("text", "keys"), COMPOUNDS)
def test_split_compounds_are_joined(text: str, keys: set[str]) -> None:
    assert keys <= set(terms(text))


def test_particles_and_auxiliaries_are_dropped() -> None:
    assert terms("ゴミ出しのルールが変わるのですか") == ["塵出し", "ルール", "変わる"]


def test_loanword_keys_carry_no_origin_gloss() -> None:
    # unidic's lemma is "リサイクル-recycle"; the key, and anything shown, is the word itself.
    assert terms("リサイクル") == ["リサイクル"]
    assert all("-" not in token.key for token in tokenize("リサイクルとバスとルール"))


def test_surface_keeps_what_the_resident_wrote() -> None:
    [token] = [t for t in tokenize("ゴミ") if t.pos != "複合"]
    assert (token.key, token.surface) == ("塵", "ゴミ")


def test_normalize_width_case_and_spaces() -> None:
    assert normalize("  ＡＢＣ　ｄｅｆ\n ") == "abc def"


def test_threads_reading_at_once_get_their_own_words() -> None:
    """The event loop, the plan poller and the staff pages tokenize at the same time."""
    import threading

    from index.tokenizer import read

    questions = [
        "保育園が足りない",
        "高齢者の見守り",
        "ゴミの分別どうなるの？",
        "空き家の管理",
        "バス少なすぎ",
    ]
    expected = {q: read(q) for q in questions}
    wrong: list[str] = []

    def resident(offset: int) -> None:
        for n in range(300):
            question = questions[(offset + n) % len(questions)]
            if read(question) != expected[question]:
                wrong.append(question)

    threads = [threading.Thread(target=resident, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# How words read without their kanji, from unidic's reading in context (katakana and Latin kept).
KANA_READINGS = [
    ("介護保険", "かいごほけん"),
    ("図書館", "としょかん"),
    ("ゴミ屋敷", "ごみやしき"),  # one word in unidic, so read whole
    ("お年寄り", "おとしより"),
    ("NPO法人", "npoほうじん"),
]


@pytest.mark.parametrize(("word", "kana"), KANA_READINGS)
def test_thesaurus_words_are_filed_by_their_kana(word: str, kana: str) -> None:
    assert analyse(word).kana == kana


def test_questions_are_read_without_kana_respelling_unless_asked() -> None:
    reading = read("かいごほけんがたかい")
    assert reading.spelled == () and "介護" not in reading.terms
    assert all(token.kana == "" for token in reading.tokens)  # a question's words need no reading

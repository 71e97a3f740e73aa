"""What a message is, before any search: small talk, a follow-up, or a question.

Residents greet, thank and complain, and they follow an answer with 「他には？」 or
"tell me more". Treating those as plan questions gave "not found" and the chapter
list, so they are recognised here, in Japanese and English, as whole messages: a
message counts only when nothing is left once its small-talk phrases and fillers
are taken away (「こんにちは、保育園は？」 is a question, 「ありがとう！助かりました」 is
thanks). A question may also end in a complaint of its own (「対応が遅すぎる、最悪」):
`complains` finds it. Pure functions over tables, so tests read as input/expected lists.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

__all__ = ["Intent", "classify", "complains"]


class Intent(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    IDENTITY = "identity"  # who are you
    ABILITIES = "abilities"  # what can you do
    PRAISE = "praise"
    COMPLAINT = "complaint"
    MORE = "more"  # 他には / what else: the next candidates
    DETAIL = "detail"  # 詳しく / more detail: the full card

    @property
    def small_talk(self) -> bool:
        return self not in (Intent.MORE, Intent.DETAIL)


def _alternatives(words: str) -> str:
    """A regex alternation of whitespace-separated phrases (each may hold a small regex; _ is a space)."""
    return "|".join(words.split()).replace("_", " ")


# Phrases per intent, Japanese matched in NFKC, lowercased, without spaces or punctuation;
# English as lowercased words. Order matters only between intents: DETAIL before MORE (もっと詳しく).
_JA: dict[Intent, str] = {
    Intent.DETAIL: _alternatives(
        """
        もっと詳しく 詳しい くわしい もうすこし詳しく もう少し詳しく 詳しく くわしく 詳細
        具体的に(は)? ぐたいてきに(は)? 具体的 どういうこと どういう意味 中身
        """
    ),
    Intent.MORE: _alternatives(
        """
        他には ほかには 他は ほかは 他に(も)? ほかに(も)? 他の(は|も)? ほかの(は|も)?
        それ以外(は|に)? 別の(は|も)? べつの(は|も)? もっと 次(は)? つぎ(は)?
        """
    ),
    Intent.GREETING: _alternatives(
        """
        こんにち[はわ] こんばん[はわ] おはよう はじめまして 初めまして やあ もしもし ハロー はろー
        よろしく 宜しく どうも
        """
    ),
    Intent.THANKS: _alternatives(
        """
        ありがと(う)? 有難う ありがたい サンキュー さんきゅー 助かり(ました|ます)
        たすかり(ました|ます) 助かる たすかる 感謝 お世話になりました 了解 りょうかい わかりました
        分かりました なるほど おっけー オッケー 承知
        """
    ),
    Intent.GOODBYE: _alternatives(
        """
        さようなら さよなら バイバイ ばいばい またね また来ます またきます おやすみ 失礼します
        じゃあね じゃね それでは ではまた
        """
    ),
    Intent.IDENTITY: _alternatives(
        """
        (あなた|きみ|君|おまえ|お前)(は|って)?(誰|だれ|何|なに|何者|なにもの) 誰ですか だれですか
        誰なの だれなの 何者 なにもの 名前 なまえ ボットなの 人間なの aiなの
        """
    ),
    Intent.ABILITIES: _alternatives(
        """
        何ができる なにができる 何が出来る 何を聞ける なにを聞ける 何が聞ける 何を聞けば
        何を聞いたら 使い方 つかいかた どう使う どうやって使う なにできる 何できる できること
        """
    ),
    Intent.PRAISE: _alternatives(
        """
        すごい すご 凄い 便利 べんり えらい 偉い いいね 最高 さいこう さすが かしこい 賢い やるね
        ナイス ないす 素晴らしい すばらしい 役に立つ 役立つ やくにたつ
        """
    ),
    Intent.COMPLAINT: _alternatives(
        """
        使えない つかえない 役に立たない 役立たない やくにたたない
        意味(が)?(わから|分から)(ない|ん) わからない 分からない わかんない わからん 分からん ダメ
        だめ つまらない つまんない ひどい 酷い 最悪 さいあく 違う ちがう バカ ばか 馬鹿 使いにくい
        うざい ポンコツ ぽんこつ
        """
    ),
}
_JA_FILLERS = _alternatives(
    """
    じゃあ じゃ では それって それは それ これは これ その あの この えっと ねえ ねぇ ところで やば やばい
    本当に ほんとに ほんと とても とっても すごく めっちゃ マジ まじ 超 ちょう どうも
    ございます ございました ござい ください 下さい お願い(します|いたします)?
    おねがい(します)? 教えて おしえて 聞きたい 知りたい 見せて みせて ある あります ありますか
    ありません ないの ない ですか ですね ですよ でした です ますか ました ます だね だよ だな
    かな かも なの のね よね ね よ な わ か の は も が を に 施策 政策 取り組み 取組 こと
    もの やつ 情報 内容 さん くん ちゃん ボット ぼっと チャットボット 朝霞市 市役所 みなさん
    皆さん w+ 笑 草 ー 〜 ~ っ ん
    """
)
_EN: dict[Intent, str] = {
    Intent.DETAIL: _alternatives(
        """
        more_details? in_detail details? tell_me_more more_about_(it|this|that)
        explain(_it|_this|_that)? what_does_(it|this|that)_mean specifically
        """
    ),
    Intent.MORE: _alternatives(
        """
        what_else anything_else something_else any_others? others? other_measures more next
        """
    ),
    Intent.GREETING: _alternatives(
        """
        hello hi hey hiya howdy yo greetings good_(morning|afternoon|evening|day)
        nice_to_meet_you
        """
    ),
    Intent.THANKS: _alternatives(
        """
        thank_you thanks thx ty cheers appreciate_it got_it i_see understood ok okay
        """
    ),
    Intent.GOODBYE: _alternatives(
        """
        bye goodbye good_bye see_you see_ya good_night take_care later
        """
    ),
    Intent.IDENTITY: _alternatives(
        """
        who_are_you what_are_you are_you_(a_|an_)?(bot|robot|human|person|ai)
        what_is_your_name what's_your_name whats_your_name your_name
        """
    ),
    Intent.ABILITIES: _alternatives(
        """
        what_can_you_do what_can_i_ask what_do_you_do how_does_this_work
        how_do_i_use_(this|you) how_to_use_(this|you) help_me
        """
    ),
    Intent.PRAISE: _alternatives(
        """
        great awesome amazing helpful cool nice good_bot smart good_job well_done love_it
        perfect useful
        """
    ),
    Intent.COMPLAINT: _alternatives(
        """
        useless stupid dumb terrible bad_bot not_helpful unhelpful wrong that's_wrong
        doesn't_help does_not_help you_don't_understand makes_no_sense
        """
    ),
}
_EN_FILLERS = _alternatives(
    """
    so very much really a_lot you you're you_are it this that is was again there all
    everyone and but please the a an bot oh ah well okay_then then for_(the|your)_help
    for_that mate me about tell_me anything something can_you could_you do_you are be sir
    madam
    """
)

_SKIP = re.compile(r"[_\W_]+")  # spaces, punctuation, emoji


def _whole(phrases: str, fillers: str) -> re.Pattern[str]:
    return re.compile(rf"(?:{phrases}|{fillers})+")


_JA_ANY = "|".join(f"(?:{p})" for p in _JA.values())
_JA_WHOLE = _whole(_JA_ANY, _JA_FILLERS)
_JA_FIND = {intent: re.compile(pattern) for intent, pattern in _JA.items()}
_EN_ANY = "|".join(f"(?:{p})" for p in _EN.values())
_EN_WHOLE = re.compile(rf"(?:(?:{_EN_ANY}|{_EN_FILLERS})\b ?)+")
_EN_FIND = {intent: re.compile(rf"\b(?:{pattern})\b") for intent, pattern in _EN.items()}


def classify(text: str) -> Intent | None:
    """The intent of a whole message, or None for a question to search."""
    flat = unicodedata.normalize("NFKC", text).lower().strip()
    if not flat or len(flat) > 60:  # small talk is short; a long message is a question
        return None
    latin = " ".join(re.findall(r"[a-z']+", flat))
    if latin and _SKIP.sub("", flat).isascii():
        if _EN_WHOLE.fullmatch(latin + " ") is None:
            return None
        return next((intent for intent, find in _EN_FIND.items() if find.search(latin)), None)
    compact = _SKIP.sub("", flat)
    if not compact or _JA_WHOLE.fullmatch(compact) is None:
        return None
    return next((intent for intent, find in _JA_FIND.items() if find.search(compact)), None)


# Clauses: split at punctuation, and at spaces except between Latin words ("not helpful" is one phrase).
_CLAUSE = re.compile(r"[、。，．,.!?！？…\n\u3000]+|(?<![A-Za-z'])\s+|\s+(?![A-Za-z'])")


def complains(text: str) -> bool:
    """Whether a message holds a clause that is nothing but a complaint (「対応が遅すぎる、最悪」).

    A whole clause, not a word: 「…わからないと思います」 and 「ばかりで」 are not complaints."""
    return any(classify(clause) is Intent.COMPLAINT for clause in _CLAUSE.split(text) if clause)

"""The bundled plan data: complete, exact to the source, and validated with errors staff can act on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.answer import Language, Line, Style, card_lines
from bot.cli import cli
from bot.outline import TITLE_EN_NOTE
from index import (
    Chapter,
    Contact,
    Measure,
    Middle,
    Plan,
    PlanBundle,
    PlanDataError,
    Route,
    bundled_plan_dir,
    load_bundle,
)
from index.diff import Change, diff_plans

# (id, title, items, more) for a sample of middle measures in every chapter, as the source prints them.
MIDDLES = [
    ("1-1-3", "消防体制の充実", ("消防との連携", "消防団の充実"), True),
    ("1-1-4", "防犯のまちづくりの推進", ("防犯活動の充実", "防犯環境の整備"), True),
    (
        "2-1-3",
        "誰もが地域で暮らし続けられるための支援の充実",
        ("相談支援体制の充実", "高齢者福祉の充実", "障害者福祉の充実"),
        True,
    ),
    (
        "2-2-4",
        "幼児期等の教育と保育の充実",
        ("質の高い教育・保育の充実", "ライフスタイルに応じた子育て支援の充実"),
        True,
    ),
    ("2-3-3", "保険事業等の適正な運営", ("国民健康保険制度の円滑な運営", "介護保険制度の適切な運営"), True),
    (
        "3-1-6",
        "学校・家庭・地域の連携・協働の推進による地域の教育力の向上",
        (
            "地域と一体となったコミュニティ・スクールの推進",
            "生涯スポーツ・文化活動を支える地域クラブ活動の体制整備",
        ),
        True,
    ),
    ("3-4-3", "地域文化によるまちづくり", ("地域文化の発信", "地域間・都市間交流の推進"), True),
    (
        "4-1-1",
        "住み良い環境づくりの推進",
        ("自然環境の保全・再生と生活環境の保全", "動植物の適切な保護と管理"),
        False,
    ),
    ("4-3-1", "消費者の自立支援の充実", ("消費生活相談の充実",), True),
    ("4-5-2", "市民活動環境の充実", ("市民活動拠点の充実",), True),
    ("5-1-3", "人中心のまちづくり", ("居心地の良い空間づくり", "公共空間の利活用"), False),
    ("5-5-2", "公共下水道の整備", ("雨水浸水対策の推進", "下水道事業の健全経営"), True),
    ("5-7-2", "起業・創業の支援", ("支援体制の充実", "新たな産業の創出"), True),
    ("6-1-3", "多文化共生", ("外国人市民が暮らしやすいまちづくり", "多文化共生への理解の推進"), True),
    (
        "6-3-6",
        "シティ・プロモーションの展開",
        ("市の魅力となる地域資源の発掘と活用", "効果的なメディアの活用推進"),
        True,
    ),
]

CITATIONS = [
    ("2-2-4", "第2章 福祉・こども・健康 › 2 こども・若者応援、子育て支援 › (4) 幼児期等の教育と保育の充実"),
    ("4-2-2", "第4章 環境・市民生活・コミュニティ › 2 ごみ処理 › (2) ごみ処理体制の充実"),
    ("6-3-4", "第6章 基本構想を推進するために › 3 行財政 › (4) デジタル化の推進"),
]

# (chapter, measure) → (title, first words of each goal)
MEASURES = [
    ((1, 1), "災害対策・防犯", ("災害発生時の被害軽減", "地域における防災意識", "犯罪発生の抑止力")),
    ((2, 3), "保健・医療", ("くらしの中から健康づくり", "国民健康保険・後期高齢者医療")),
    ((3, 4), "地域文化", ("市民が芸術文化活動の成果",)),
    ((4, 3), "市民生活", ("消費者に必要な情報", "市民の葬祭が滞りなく")),
    ((5, 8), "勤労者支援", ("勤労者である市民", "市内事業者が地域から人材")),
    ((6, 3), "行財政", ("安定した財源を確保しつつ",)),
]

CHAPTERS = [
    "災害対策・防犯",
    "福祉・こども・健康",
    "教育・文化",
    "環境・市民生活・コミュニティ",
    "都市基盤・産業振興",
    "基本構想を推進するために",
]


def test_counts(bundle: PlanBundle) -> None:
    plan = bundle.plan
    assert [c.title for c in plan.chapters] == CHAPTERS
    assert sum(len(c.measures) for c in plan.chapters) == 24
    assert [sum(len(m.middles) for m in c.measures) for c in plan.chapters] == [4, 11, 13, 11, 20, 11]
    assert all(m.goals for c in plan.chapters for m in c.measures)
    assert all(loc.middle.items for loc in plan.located())


def test_plan_metadata(bundle: PlanBundle) -> None:
    info = bundle.plan.info
    assert info.title == "第6次朝霞市総合計画 前期基本計画（骨子）"
    assert info.period == "令和8年度（2026年度）〜令和12年度（2030年度）"
    assert [layer.name for layer in info.introduction.layers] == ["基本構想", "基本計画", "実施計画"]
    assert [step.year for step in info.introduction.timeline] == ["令和５年度", "令和６年度", "令和７年度"]


@pytest.mark.parametrize(("middle_id", "title", "items", "more"), MIDDLES)
def test_middle_content(
    bundle: PlanBundle, middle_id: str, title: str, items: tuple[str, ...], more: bool
) -> None:
    middle = bundle.plan.locate(middle_id).middle
    assert (middle.title, middle.items, middle.more) == (title, items, more)


@pytest.mark.parametrize(("key", "title", "goal_starts"), MEASURES)
def test_measure_goals(
    bundle: PlanBundle, key: tuple[int, int], title: str, goal_starts: tuple[str, ...]
) -> None:
    measure = bundle.plan.chapter(key[0]).measures[key[1] - 1]
    assert measure.title == title
    assert len(measure.goals) == len(goal_starts)
    assert all(goal.startswith(start) for goal, start in zip(measure.goals, goal_starts, strict=True))
    assert all(
        goal.endswith(("目指します。", "高めます。")) or "目指します" in goal for goal in measure.goals
    )


@pytest.mark.parametrize(("middle_id", "citation"), CITATIONS)
def test_citation(bundle: PlanBundle, middle_id: str, citation: str) -> None:
    assert bundle.plan.locate(middle_id).citation == citation


@pytest.fixture
def plan_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled plan to break."""
    target = tmp_path / "plan"
    shutil.copytree(bundled_plan_dir(), target)
    return target


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found: {old!r}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


_MIDDLE_2_2_4 = "        title_en: Better early childhood education and childcare\n"

# (file, old text, new text, expected message fragment, expected entry)
BREAKAGES = [
    (
        "chapter2.yaml",
        "    title: 保健・医療\n",
        "    title: 保健・医療\n  bad: [\n",
        "YAML syntax error",
        "line ",
    ),
    ("chapter2.yaml", "        title: 地域共生社会の構築\n", "", "'title' is missing", "第2章 › 1 › (1)"),
    (
        "chapter2.yaml",
        "        title: 地域共生社会の構築\n",
        "        title: ''\n",
        "'title' is empty",
        "第2章 › 1 › (1)",
    ),
    (
        "chapter3.yaml",
        "      - id: 3-1-2\n        number: 2\n",
        "      - id: 3-1-2\n        number: 1\n",
        "should be 2 (number 1 is used twice)",
        "第3章 › 1",
    ),
    (
        "chapter3.yaml",
        "      - id: 3-1-2\n        number: 2\n",
        "      - id: 3-1-2\n        number: 3\n",
        "should be 2",
        "第3章 › 1",
    ),
    (
        "chapter4.yaml",
        "      - id: 4-2-2\n",
        "      - id: 4-2-9\n",
        "does not match its position",
        "第4章 › 2 › (2)",
    ),
    (
        "chapter4.yaml",
        "      - id: 4-2-2\n",
        "      - id: 4-2-1\n",
        "duplicate id '4-2-1' (already used by 第4章 › 2 › (1); expected '4-2-2')",
        "第4章 › 2 › (2)",
    ),
    (
        "chapter5.yaml",
        "        more: false\n",
        "        mroe: false\n",
        "unknown key 'mroe' (did you mean 'more'?)",
        "第5章 › 1 › (3)",
    ),
    (
        "chapter6.yaml",
        "        number: 3\n        title: 多文化共生\n",
        "        number: three\n        title: 多文化共生\n",
        "must be a whole number",
        "第6章 › 1 › (3)",
    ),
    (
        "chapter1.yaml",
        "        more: true\n",
        "        more: sometimes\n",
        "must be true or false",
        "第1章 › 1 › (1)",
    ),
    (
        "chapter1.yaml",
        "        items: [災害に強いまちづくり, 防災施設の整備]\n",
        "        items: 災害に強いまちづくり\n",
        "'items' must be a list",
        "第1章 › 1 › (1)",
    ),
    (
        "plan.yaml",
        "  - chapter6.yaml\n",
        "  - chapter7.yaml\n",
        "chapter file 'chapter7.yaml' not found",
        "chapters",
    ),
    ("chapter1.yaml", "number: 1\n", "number: 2\n", "does not match its place", ""),
    (
        "chapter2.yaml",
        "        number: 1\n        title: 地域共生社会の構築\n",
        "        number: 1\n        number: 1\n        title: 地域共生社会の構築\n",
        "duplicate key 'number'",
        "line ",
    ),
    ("synonyms.yaml", None, "存在しない言葉: [なにか]\n", "does not occur in the plan", "'存在しない言葉'"),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: {name: 保育課, phone: 463-1111}\n",
        "'phone' '463-1111' is not a Japanese phone number",
        "第2章 › 2 › (4) › contact",
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: {name: 保育課, phone: 0120123456}\n",
        "'phone' must be text like 048-463-1111 (in quotes), found a number",
        "第2章 › 2 › (4) › contact",
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: {name: 保育課, tel: 048-463-1111}\n",
        "unknown key 'tel' (allowed: name, phone)",
        "第2章 › 2 › (4) › contact",
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: {phone: 048-463-1111}\n",
        "'name' is missing",
        "第2章 › 2 › (4) › contact",
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: 保育課\n",
        "expected a mapping of keys, found text",
        "第2章 › 2 › (4) › contact",
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        url: www.city.asaka.lg.jp/hoiku\n",
        "'url' 'www.city.asaka.lg.jp/hoiku' is not a web address",
        "第2章 › 2 › (4)",
    ),
    (
        "chapter2.yaml",
        "        title_en: Better early childhood education and childcare\n",
        "        title_en: ''\n",
        "'title_en' is empty",
        "第2章 › 2 › (4)",
    ),
    (
        "chapter2.yaml",
        "    title_en: Support for Children, Young People and Parents\n",
        "    title_en: Support for 子育て\n",
        "'title_en' 'Support for 子育て' contains Japanese",
        "第2章 › 2",
    ),
    (
        "chapter3.yaml",
        "title_en: Education and Culture\n",
        "title_en:\n",
        "'title_en' is empty",
        "第3章",
    ),
    ("plan.yaml", "contact:\n  name: 朝霞市役所\n  phone: 048-463-1111\n", "", "'contact' is missing", ""),
    ("plan.yaml", "  phone: 048-463-1111\n", "  phone: 048-463-11111-1\n", "not a Japanese phone", "contact"),
    ("plan.yaml", "url: https://www.city.asaka.lg.jp/\n", "url: ftp://city.asaka\n", "not a web address", ""),
]


@pytest.mark.parametrize(("file", "old", "new", "message", "entry"), BREAKAGES)
def test_validation_names_file_entry_and_problem(
    plan_copy: Path, file: str, old: str | None, new: str, message: str, entry: str
) -> None:
    if old is None:
        (plan_copy / file).write_text(new, encoding="utf-8")
    else:
        _edit(plan_copy / file, old, new)
    with pytest.raises(PlanDataError) as caught:
        load_bundle(plan_copy)
    problems = [p for p in caught.value.problems if message in p.message]
    assert problems, [str(p) for p in caught.value.problems]
    assert problems[0].file == file
    assert problems[0].entry.startswith(entry)


def test_all_errors_of_a_run_are_reported(plan_copy: Path) -> None:
    _edit(plan_copy / "chapter1.yaml", "        title: 消防体制の充実\n", "")
    _edit(plan_copy / "chapter5.yaml", "        more: false\n", "        mroe: false\n")
    _edit(plan_copy / "chapter6.yaml", "      - id: 6-3-4\n", "      - id: 6-3-40\n")
    with pytest.raises(PlanDataError) as caught:
        load_bundle(plan_copy)
    files = sorted({p.file for p in caught.value.problems})
    assert files == ["chapter1.yaml", "chapter5.yaml", "chapter6.yaml"]


def test_optional_fields_need_no_code_change(plan_copy: Path) -> None:
    _edit(
        plan_copy / "chapter5.yaml",
        "        items: [空き家対策の推進, 良質な住宅ストック形成の促進]\n",
        "        items: [空き家対策の推進, 良質な住宅ストック形成の促進]\n"
        "        description: 空き家の適正管理と活用を進めます。\n"
        "        keywords: [空き家バンク]\n"
        "        url: https://www.city.asaka.lg.jp/\n"
        "        indicators:\n          - {name: 空き家バンク登録件数, baseline: 10, target: 30, unit: 件}\n",
    )
    middle = load_bundle(plan_copy).plan.locate("5-4-1").middle
    assert middle.description == "空き家の適正管理と活用を進めます。"
    assert middle.keywords == ("空き家バンク",)
    assert middle.indicators[0].target == "30"
    assert middle.url == "https://www.city.asaka.lg.jp/"


def test_check_command_reports_every_error_and_exits_1(plan_copy: Path) -> None:
    _edit(plan_copy / "chapter1.yaml", "        title: 消防体制の充実\n", "")
    _edit(plan_copy / "chapter3.yaml", "      - id: 3-1-2\n", "      - id: 3-1-7\n")
    result = CliRunner().invoke(cli, ["plan", "--check", str(plan_copy)])
    assert result.exit_code == 1
    assert "chapter1.yaml: 第1章 › 1 › (3): 'title' is missing" in result.output
    assert "chapter3.yaml: 第3章 › 1 › (2): id '3-1-7' does not match its position" in result.output
    assert "Traceback" not in result.output


def test_check_command_accepts_the_bundled_plan() -> None:
    result = CliRunner().invoke(cli, ["plan", "--check", str(bundled_plan_dir())])
    assert result.exit_code == 0
    assert "6 chapters, 24 measures, 70 middle measures" in result.output


def test_plan_json_contract() -> None:
    result = CliRunner().invoke(cli, ["plan", "--json"])
    data = json.loads(result.output)
    assert set(data) >= {"plan", "chapters"}
    middle = data["chapters"][1]["measures"][1]["middles"][3]
    assert middle == {
        "id": "2-2-4",
        "number": 4,
        "title": "幼児期等の教育と保育の充実",
        "items": ["質の高い教育・保育の充実", "ライフスタイルに応じた子育て支援の充実"],
        "more": True,
        "title_en": "Better early childhood education and childcare",
    }
    measure = data["chapters"][1]["measures"][1]
    assert set(measure) == {"number", "title", "title_en", "goals", "middles"}
    assert data["chapters"][1]["title_en"] == "Welfare, Children and Health"
    assert data["plan"]["period"] == "令和8年度（2026年度）〜令和12年度（2030年度）"
    assert data["plan"]["contact"] == {"name": "朝霞市役所", "phone": "048-463-1111"}
    assert data["plan"]["url"] == "https://www.city.asaka.lg.jp/"
    assert data["notes"] == {"title_en": TITLE_EN_NOTE}


def test_plan_json_shows_a_measure_route(plan_copy: Path) -> None:
    _edit(plan_copy / "chapter2.yaml", _MIDDLE_2_2_4, _MIDDLE_2_2_4 + ROUTE_2_2_4)
    _edit(
        plan_copy / "chapter2.yaml", "title_en: Welfare, Children and Health\n", "contact: {name: 福祉課}\n"
    )
    result = CliRunner().invoke(cli, ["plan", "--json", "--plan-dir", str(plan_copy)])
    chapter = json.loads(result.output)["chapters"][1]
    middle = chapter["measures"][1]["middles"][3]
    assert middle["contact"] == {"name": "保育課", "phone": "048-463-1234"}
    assert middle["url"] == "https://www.city.asaka.lg.jp/hoiku/"
    assert chapter["contact"] == {"name": "福祉課"}  # no phone: no null either
    assert "title_en" not in chapter


# A route set in a copy of the plan (the bundled plan names no departments: every route is the city's).
ROUTE_2_2_4 = (
    "        contact: {name: 保育課, phone: 048-463-1234}\n        url: https://www.city.asaka.lg.jp/hoiku/\n"
)
CITY = Route(Contact("朝霞市役所", "048-463-1111"), "https://www.city.asaka.lg.jp/", "city")


def test_new_fields_parse(plan_copy: Path) -> None:
    _edit(plan_copy / "chapter2.yaml", _MIDDLE_2_2_4, _MIDDLE_2_2_4 + ROUTE_2_2_4)
    _edit(plan_copy / "chapter3.yaml", "title_en: Education and Culture\n", "title_en: Education\n")
    _edit(
        plan_copy / "chapter3.yaml",
        "    title_en: School Education\n",
        "    title_en: School Education\n    contact:\n      name: 学校教育課\n",
    )
    plan = load_bundle(plan_copy).plan
    middle = plan.locate("2-2-4").middle
    assert middle.contact == Contact("保育課", "048-463-1234")
    assert middle.url == "https://www.city.asaka.lg.jp/hoiku/"
    assert middle.title_en == "Better early childhood education and childcare"
    assert plan.chapter(3).title_en == "Education"
    assert plan.chapter(3).measures[0].contact == Contact("学校教育課")
    assert plan.info.contact == Contact("朝霞市役所", "048-463-1111")
    assert plan.info.url == "https://www.city.asaka.lg.jp/"


# (middle id, expected route) in a copy where 2-2-4 has its own route, measure 2-2 only a page,
# chapter 3 a contact and everything else nothing.
ROUTES = [
    ("2-2-4", Route(Contact("保育課", "048-463-1234"), "https://www.city.asaka.lg.jp/hoiku/", "measure")),
    ("2-2-3", Route(None, "https://www.city.asaka.lg.jp/kodomo/", "measure")),
    ("3-1-1", Route(Contact("教育総務課"), None, "chapter")),
    ("3-4-3", Route(Contact("教育総務課"), None, "chapter")),
    ("2-1-1", CITY),
    ("6-3-6", CITY),
]


def _routed(plan_copy: Path) -> Plan:
    """The plan copy of ROUTES."""
    _edit(plan_copy / "chapter2.yaml", _MIDDLE_2_2_4, _MIDDLE_2_2_4 + ROUTE_2_2_4)
    _edit(
        plan_copy / "chapter2.yaml",
        "    title_en: Support for Children, Young People and Parents\n",
        "    title_en: Support for Children, Young People and Parents\n"
        "    url: https://www.city.asaka.lg.jp/kodomo/\n",
    )
    _edit(
        plan_copy / "chapter3.yaml",
        "title_en: Education and Culture\n",
        "title_en: Education and Culture\ncontact: {name: 教育総務課}\n",
    )
    return load_bundle(plan_copy).plan


@pytest.mark.parametrize(("middle_id", "route"), ROUTES)
def test_route_falls_back_from_measure_to_chapter_to_city(
    plan_copy: Path, middle_id: str, route: Route
) -> None:
    assert _routed(plan_copy).route(middle_id) == route


def test_a_whole_field_routes_to_its_measure_or_chapter_never_one_middle(plan_copy: Path) -> None:
    plan = _routed(plan_copy)
    children = plan.chapter(2).measures[1]  # 2-2: only a page; 2-2-4 has its own department
    assert plan.field_route(plan.chapter(2), children) == ROUTES[1][1]
    assert plan.field_route(plan.chapter(2)) == CITY
    assert plan.field_route(plan.chapter(3), plan.chapter(3).measures[3]) == ROUTES[2][1]


def test_every_route_in_the_bundled_plan_is_the_citys(bundle: PlanBundle) -> None:
    """The plan source names no department, phone or page: none may be invented."""
    assert {bundle.plan.route(located.middle.id) for located in bundle.plan.located()} == {CITY}


# (file, old text, new text, expected change)
DIFFS = [
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        _MIDDLE_2_2_4 + "        contact: {name: 保育課}\n",
        Change("details", "2-2-4", f"{CITATIONS[0][1]}: contact changed"),
    ),
    (
        "chapter2.yaml",
        _MIDDLE_2_2_4,
        "        title_en: Early childhood education and childcare\n        url: https://example.jp/\n",
        Change("details", "2-2-4", f"{CITATIONS[0][1]}: url, title_en changed"),
    ),
    (
        "chapter2.yaml",
        "    title_en: Support for Children, Young People and Parents\n",
        "    title_en: Support for Children, Young People and Parents\n    contact: {name: こども未来課}\n",
        Change("details", "2-2", "第2章 福祉・こども・健康 › こども・若者応援、子育て支援: contact changed"),
    ),
    (
        "chapter3.yaml",
        "title_en: Education and Culture\n",
        "title_en: Education and Culture\ncontact: {name: 教育総務課, phone: 048-463-1111}\n",
        Change("details", "3", "第3章 教育・文化: contact changed"),
    ),
    (
        "plan.yaml",
        "  phone: 048-463-1111\n",
        "  phone: 048-463-2111\n",
        Change(
            "plan",
            "plan.yaml",
            "plan details changed (the city-wide contact or url) (version 骨子（令和6年12月）)",
        ),
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "change"), DIFFS)
def test_diff_reports_route_and_translation_changes(
    bundle: PlanBundle, plan_copy: Path, file: str, old: str, new: str, change: Change
) -> None:
    _edit(plan_copy / file, old, new)
    revised = load_bundle(plan_copy)
    assert diff_plans(bundle.plan, bundle.thesaurus, revised.plan, revised.thesaurus) == [change]


def test_every_title_has_an_english_translation(bundle: PlanBundle) -> None:
    chapters = bundle.plan.chapters
    measures = [measure for chapter in chapters for measure in chapter.measures]
    middles = [middle for measure in measures for middle in measure.middles]
    parts: list[Chapter | Measure | Middle] = [*chapters, *measures, *middles]
    assert len(parts) == 6 + 24 + 70
    missing = [part.title for part in parts if not (part.title_en and part.title_en.strip())]
    assert missing == []
    assert bundle.plan.chapter(2).label_en == "Chapter 2: Welfare, Children and Health"
    # An English card names the measure by its translated titles.
    heading, citation = card_lines(bundle.plan.locate("2-2-4"), Language.EN)[:2]
    assert heading == Line(Style.HEADING, "Better early childhood education and childcare")
    assert citation == Line(
        Style.CITATION, "Chapter 2 › 2 Support for Children, Young People and Parents › (4)"
    )


def test_each_chapter_file_marks_title_en_as_a_translation() -> None:
    for path in sorted(bundled_plan_dir().glob("chapter*.yaml")):
        assert "# title_en is an unofficial English translation" in path.read_text(encoding="utf-8"), path


def test_plan_outline_lists_every_middle_measure() -> None:
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 0
    assert result.output.count("[") == 70
    assert "(4) 幼児期等の教育と保育の充実  [2-2-4]" in result.output

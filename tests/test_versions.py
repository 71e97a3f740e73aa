"""Plan revisions: reindex with a diff, validation that changes nothing, rollback, and bots that follow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, select, update

from bot.cli import cli
from bot.service import PlanService
from bot.store import Exchange, PlanVersion, make_engine, make_sessionmaker, utcnow
from bot.versions import ActivePlan, reindex
from index import Contact, Route, bundled_plan_dir, read_sources
from index.plan import digest
from tests.botapi import BotApiServer
from tests.helpers import BotProcess, bot_env, converse

OLD_TITLE = "安心で快適な住環境の整備"
NEW_TITLE = "安心で快適な住まいの整備"


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    target = tmp_path / "plan"
    shutil.copytree(bundled_plan_dir(), target)
    return target


def _retitle(plan_dir: Path, old: str = OLD_TITLE, new: str = NEW_TITLE) -> None:
    path = plan_dir / "chapter5.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(f"title: {old}", f"title: {new}"), encoding="utf-8"
    )


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    return tmp_path / "other"


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    """A new data folder: its database has no plan version yet."""
    return {
        "PLANBOT_DATA_DIR": str(tmp_path / "data"),
        "LOG_SALT": "test-salt-0123456789abcdef0123456789",
        "DATABASE_URL": "",
    }


@pytest.fixture
def env(fresh_env: dict[str, str]) -> dict[str, str]:
    """A data folder where a process has started: the bundled plan is version 1."""
    assert _cli(fresh_env, "versions")[0] == 0
    return fresh_env


def test_new_database_starts_with_the_bundled_plan_as_version_1(fresh_env: dict[str, str]) -> None:
    code, output = _cli(fresh_env, "versions")
    assert code == 0
    assert output.startswith("*   1 ") and "bundled" in output


def test_the_thesaurus_walkthrough_stores_the_edit_on_a_new_data_folder(
    fresh_env: dict[str, str], tmp_path: Path
) -> None:
    """README "By hand: the thesaurus file", step by step, in a copy of the project with a new data folder.

    `reindex` is the first command to touch the database: it stores the edited plan_data/ as
    version 1 under its own label and author, instead of finding it already stored as "bundled".
    """
    project = tmp_path / "project"
    for part in ("bot", "index", "plan_data"):
        source = bundled_plan_dir().parent / part
        shutil.copytree(source, project / part, ignore=shutil.ignore_patterns("__pycache__"))

    def run(*args: str) -> tuple[int, str]:
        completed = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=project,
            env={**os.environ, **fresh_env, "LOGNAME": "tanaka", "USER": "tanaka"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return completed.returncode, completed.stdout + completed.stderr

    question = "グリーンカーテンってやってる？"
    assert json.loads(run("ask", "--json", question)[1])["grade"] == "none"
    synonyms = project / "plan_data" / "synonyms.yaml"
    text = synonyms.read_text(encoding="utf-8")
    synonyms.write_text(text.replace("\n低炭素: [", "\n低炭素: [グリーンカーテン, ", 1), encoding="utf-8")
    assert run("plan", "--check", "plan_data")[0] == 0
    assert json.loads(run("ask", "--json", question)[1])["hits"][0]["id"] == "4-1-2"
    code, output = run("reindex", "--label", "グリーンカーテンを追加")
    assert code == 0, output
    assert "no plan version is active yet" in output and "stored as version 1 and activated" in output
    assert "nothing stored" not in output
    versions = run("versions")[1].splitlines()
    assert len(versions) == 1, versions  # no "bundled" version, and no export line: plan_data/ matches
    assert versions[0].startswith("*   1 ") and versions[0].endswith("[cli:tanaka] グリーンカーテンを追加")


def test_identical_content_creates_nothing(env: dict[str, str]) -> None:
    code, output = _cli(env, "reindex")
    assert code == 0 and "identical" in output
    assert len(_cli(env, "versions")[1].splitlines()) == 1


def test_reindex_shows_the_diff_then_stores_and_activates(env: dict[str, str], plan_dir: Path) -> None:
    _retitle(plan_dir)
    path = plan_dir / "chapter4.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "items: [市民活動拠点の充実]", "items: [市民活動拠点の充実, 情報発信の支援]"
        ),
        encoding="utf-8",
    )
    with (plan_dir / "synonyms.yaml").open("a", encoding="utf-8") as synonyms:
        synonyms.write("原風景:\n  - 昔ながらの雑木林\n")
    code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir), "--label", "素案")
    assert code == 0, output
    assert f"retitled  5-4-1: 第5章 都市基盤・産業振興 › 4 住宅 › (1) {OLD_TITLE} → " in output
    assert (
        "items     4-5-2: 第4章 環境・市民生活・コミュニティ › 5 市民活動 › (2) 市民活動環境の充実" in output
    )
    assert "synonyms  原風景: added: 昔ながらの雑木林" in output
    assert "stored as version 2 and activated" in output
    versions = _cli(env, "versions")[1].splitlines()
    assert versions[0].startswith("*   2 ") and versions[0].endswith("素案")
    assert versions[1].startswith("    1 ")


def test_reindex_reports_search_only_changes(env: dict[str, str], plan_dir: Path) -> None:
    path = plan_dir / "chapter4.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("    title: 環境\n", "    title: 環境\n    keywords: [グリーンカーテン]\n"),
        encoding="utf-8",
    )
    code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir), "--dry-run")
    assert code == 0, output
    assert "details   4-1: 第4章 環境・市民生活・コミュニティ › 環境: keywords changed" in output


def test_dry_run_stores_nothing(env: dict[str, str], plan_dir: Path) -> None:
    _retitle(plan_dir)
    code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir), "--dry-run")
    assert code == 0 and "dry run: nothing stored" in output and "retitled" in output
    assert len(_cli(env, "versions")[1].splitlines()) == 1


def test_invalid_data_exits_1_and_the_active_version_keeps_serving(
    env: dict[str, str], plan_dir: Path
) -> None:
    path = plan_dir / "chapter3.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("      - id: 3-1-2\n", "      - id: 3-2-2\n"),
        encoding="utf-8",
    )
    code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir))
    assert code == 1
    assert "chapter3.yaml: 第3章 › 1 › (2): id '3-2-2' does not match its position" in output
    assert "the active version keeps serving" in output
    assert _cli(env, "versions")[1].startswith("*   1 ")


def test_rollback_to_an_earlier_version(env: dict[str, str], plan_dir: Path) -> None:
    _retitle(plan_dir)
    _cli(env, "reindex", "--plan-dir", str(plan_dir))
    code, output = _cli(env, "reindex", "--activate", "1")
    assert code == 0 and "version 1" in output
    assert _cli(env, "versions")[1].splitlines()[1].startswith("*   1 ")
    code, output = _cli(env, "reindex", "--activate", "99")
    assert code == 1 and "no plan version 99" in output


def test_reindexing_earlier_content_reactivates_that_version(env: dict[str, str], plan_dir: Path) -> None:
    _retitle(plan_dir)
    _cli(env, "reindex", "--plan-dir", str(plan_dir))
    _retitle(plan_dir, NEW_TITLE, OLD_TITLE)
    code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir))
    assert code == 0 and "same content as version 1: nothing stored, version 1 is active again" in output
    assert "stored as" not in output
    assert _cli(env, "versions")[1].splitlines()[1].startswith("*   1 ")


def test_a_reindex_racing_another_is_told_to_run_again(env: dict[str, str], plan_dir: Path) -> None:
    """Two staff reindex the same new data at once: the one that stores second gets one clear line."""
    _retitle(plan_dir)
    url = f"sqlite:///{Path(env['PLANBOT_DATA_DIR']) / 'planbot.sqlite3'}"
    raced = False

    def other_reindex_stores_first(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        nonlocal raced
        if statement.startswith("UPDATE plan_versions") and not raced:
            raced = True
            reindex(make_sessionmaker(make_engine(url)), read_sources(plan_dir), label="", dry_run=False)

    event.listen(Engine, "before_cursor_execute", other_reindex_stores_first)
    try:
        code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir))
    finally:
        event.remove(Engine, "before_cursor_execute", other_reindex_stores_first)
    assert raced
    assert code == 1
    assert "Error: another reindex stored a version at the same moment: run it again" in output
    assert "Traceback" not in output and "IntegrityError" not in output


def test_a_version_that_fails_to_load_is_skipped(service: PlanService) -> None:
    """A process that cannot load the new active version keeps the one it has."""
    with service.sessions() as session, session.begin():
        sources = dict(session.scalars(select(PlanVersion)).one().sources)
        sources["chapter1.yaml"] = "number: [\n"
        session.execute(update(PlanVersion).values(active=False))
        session.add(
            PlanVersion(digest="broken", created_at=utcnow(), label="broken", sources=sources, active=True)
        )
    before = service.active.bundle
    assert service.active.refresh() is False
    assert service.active.bundle is before
    assert service.active.version_id == 1  # what /healthz reports is what answers
    assert service.bundle.index.search("空き家").answered


def test_an_active_version_this_release_cannot_read_neither_blocks_start_nor_reindex(
    env: dict[str, str], settings_dir: Path
) -> None:
    """A release whose validation got stricter meets a database whose active version it rejects."""
    from tests.helpers import make_settings

    settings = make_settings(settings_dir)
    service = PlanService.start(settings)
    with service.sessions() as session, session.begin():
        version = session.scalars(select(PlanVersion)).one()
        version.sources = {**version.sources, "synonyms.yaml": "存在しない言葉: [なにか]\n"}
        version.digest = digest(version.sources)
    service.close()
    restarted = PlanService.start(settings)  # falls back to the bundled plan instead of crashing
    try:
        assert restarted.bundle.index.search("空き家").answered
        assert restarted.active.version_id is None
    finally:
        restarted.close()
    code, output = _cli({**env, "PLANBOT_DATA_DIR": str(settings_dir)}, "reindex", "--label", "deploy")
    assert code == 0, output
    assert "stored as version 2 and activated" in output


def test_logged_exchanges_record_the_answering_version(env: dict[str, str], plan_dir: Path) -> None:
    from tests.helpers import make_settings

    settings = make_settings(Path(env["PLANBOT_DATA_DIR"]))
    service = PlanService.start(settings)
    try:
        converse(service, "console", 1, "空き家")
        _retitle(plan_dir)
        _cli(env, "reindex", "--plan-dir", str(plan_dir))
        service.active.refresh()  # unless the process's own poll just did
        assert service.active.version_id == 2
        converse(service, "console", 1, "空き家の相談")
        assert service.log.flush()
    finally:
        service.close()
    code, output = _cli(env, "logs", "--version", "2", "--format", "json")
    assert code == 0 and "空き家の相談" in output and '"plan_version": 2' in output
    assert '"question": "空き家"' not in output
    code, output = _cli(env, "stats", "--version", "1", "--json")
    assert '"exchanges": 1' in output


def test_stored_versions_keep_routes_and_translations(env: dict[str, str], plan_dir: Path) -> None:
    """A version read back from the database carries contact, url and title_en as reindexed."""
    from tests.helpers import make_settings

    path = plan_dir / "chapter2.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "        title_en: Better early childhood education and childcare\n",
            "        title_en: Early childhood education and childcare\n"
            "        contact: {name: 保育課, phone: 048-463-1234}\n"
            "        url: https://www.city.asaka.lg.jp/hoiku/\n",
        ),
        encoding="utf-8",
    )
    service = PlanService.start(make_settings(Path(env["PLANBOT_DATA_DIR"])))
    try:
        code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir))
        assert code == 0 and "2-2-4" in output and "url, contact, title_en changed" in output, output
        service.active.refresh()  # unless the process's own poll just did
        assert service.active.version_id == 2
        plan = service.active.bundle.plan
    finally:
        service.close()
    assert plan.route("2-2-4") == Route(
        Contact("保育課", "048-463-1234"), "https://www.city.asaka.lg.jp/hoiku/", "measure"
    )
    assert plan.locate("2-2-4").middle.title_en == "Early childhood education and childcare"
    assert plan.route("2-2-3").level == "city"


class _Asker:
    """A resident who keeps asking while staff reindex; records every reply's title."""

    def __init__(self, api: BotApiServer, user: int) -> None:
        self.api, self.user = api, user
        self.titles: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            self.api.send_text(self.user, "空き家")
            deadline = time.monotonic() + 10
            while len(self.api.messages(self.user)) <= seen and time.monotonic() < deadline:
                time.sleep(0.02)
            replies = self.api.messages(self.user)
            if len(replies) <= seen:
                self.failures.append("no reply")
                continue
            seen = len(replies)
            text = replies[-1].plain_text
            title = NEW_TITLE if NEW_TITLE in text else OLD_TITLE if OLD_TITLE in text else ""
            (self.titles if title else self.failures).append(title or text[:80])
            time.sleep(0.1)

    def __enter__(self) -> _Asker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def _switches_within_10_seconds(asker: _Asker) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not asker.titles or asker.titles[-1] != NEW_TITLE):
        time.sleep(0.1)
    assert asker.titles and asker.titles[-1] == NEW_TITLE, asker.titles[-5:]


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token="123:ABC") as server:
        yield server


def test_running_bot_switches_to_the_new_version_while_answering(
    api: BotApiServer, env: dict[str, str], plan_dir: Path, tmp_path: Path
) -> None:
    data_dir = Path(env["PLANBOT_DATA_DIR"])
    process = BotProcess(bot_env(api.base_url, api.base_file_url, data_dir), tmp_path / "bot.log")
    try:
        api.wait_polling()
        with _Asker(api, 4001) as asker:
            while not asker.titles:
                time.sleep(0.05)
            _retitle(plan_dir)
            code, output = _cli(env, "reindex", "--plan-dir", str(plan_dir))
            assert code == 0, output
            _switches_within_10_seconds(asker)
        assert asker.failures == []
        assert asker.titles[0] == OLD_TITLE
        # Never back: once switched, every answer is the new version's.
        assert OLD_TITLE not in asker.titles[asker.titles.index(NEW_TITLE) :]
    finally:
        assert process.stop() == 0, process.output


@pytest.mark.postgres
def test_two_bot_processes_on_one_postgres_database_both_switch(
    pg_database: str, plan_dir: Path, tmp_path: Path
) -> None:
    from bot.store import upgrade

    upgrade(pg_database)
    env = {
        "PLANBOT_DATA_DIR": str(tmp_path / "staff"),
        "LOG_SALT": "test-salt-0123456789abcdef0123456789",
        "DATABASE_URL": pg_database,
    }
    with BotApiServer(token="123:ABC") as first_api, BotApiServer(token="123:ABC") as second_api:
        processes = [
            BotProcess(
                bot_env(a.base_url, a.base_file_url, tmp_path / f"bot{n}", DATABASE_URL=pg_database),
                tmp_path / f"bot{n}.log",
            )
            for n, a in enumerate((first_api, second_api))
        ]
        try:
            for a in (first_api, second_api):
                a.wait_polling()
            with _Asker(first_api, 5001) as one, _Asker(second_api, 5002) as two:
                while not one.titles or not two.titles:
                    time.sleep(0.05)
                _retitle(plan_dir)
                assert _cli(env, "reindex", "--plan-dir", str(plan_dir))[0] == 0
                _switches_within_10_seconds(one)
                _switches_within_10_seconds(two)
            assert one.failures == [] and two.failures == []
        finally:
            for process in processes:
                assert process.stop() == 0, process.output
    sessions = make_sessionmaker(make_engine(pg_database))
    with sessions() as session:
        versions = set(session.scalars(select(Exchange.plan_version)))
    assert len(versions) == 2


def test_active_plan_without_database_serves_its_bundle(service: PlanService) -> None:
    standalone = ActivePlan(None, service.bundle, None)
    assert standalone.refresh() is False


def test_a_start_rewrites_the_remembered_version_only_when_it_changed(
    env: dict[str, str], plan_dir: Path, tmp_path: Path
) -> None:
    from tests.helpers import make_settings

    settings = make_settings(tmp_path / "data")
    remembered = tmp_path / "data" / "active_plan.json"
    PlanService.start(settings).close()
    first = remembered.stat()
    PlanService.start(settings).close()
    again = remembered.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # the same file, untouched
    _retitle(plan_dir)
    assert _cli(env, "reindex", "--plan-dir", str(plan_dir), "--label", "retitled")[0] == 0
    service = PlanService.start(settings)
    service.close()
    assert remembered.stat().st_ino != first.st_ino and NEW_TITLE in remembered.read_text(encoding="utf-8")

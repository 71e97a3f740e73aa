"""Speed and size figures for the README: `python -m tests.benchmark` (a script, not a test).

Prints, in one run: index build time; query latency percentiles in-process over the
labelled question sets; the cost per question with the bundled thesaurus and with a
generated one ten times its size; 1,600 questions through `python -m bot ask --json`
against a bare rank-bm25 + fugashi loop over the same chunks (a ratio); time from
process start to first answer; peak memory; and reply latency percentiles through
the real Telegram bot with 50 concurrent residents.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, NamedTuple

from index import PlanBundle, build_bundle, bundled_plan_dir, read_sources
from index.evaluate import read_questions
from index.search import SearchIndex
from index.thesaurus import SynonymGroup, Thesaurus
from index.tokenizer import analyse, has_kanji, tokenize

ROOT = Path(__file__).resolve().parent.parent
QUESTION_FILES = [
    ROOT / "tests" / "data" / "questions.jsonl",
    ROOT / "tests" / "data" / "fresh_questions.jsonl",
    ROOT.parent / "shared" / "eval" / "dev_questions.jsonl",
]
BATCH = 1600
CACHE = Path(tempfile.gettempdir()) / "asaka-planbot-benchmark-cache"


def _questions() -> list[str]:
    return [q.q for path in QUESTION_FILES if path.exists() for q in read_questions(path)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def query_latency(rounds: int) -> None:
    bundle = build_bundle(read_sources(bundled_plan_dir()))
    questions = _questions()
    for question in questions:  # warm caches (tagger, numpy)
        bundle.index.search(question)
    timings = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            bundle.index.search(question)
            timings.append((time.perf_counter() - started) * 1000)
    print(
        f"query latency (in-process, wall, {len(questions)} questions x {rounds}): "
        f"p50 {percentile(timings, 0.5):.2f} ms  p99 {percentile(timings, 0.99):.2f} ms  "
        f"max {max(timings):.2f} ms"
    )


def build_time(rounds: int) -> None:
    """CPU milliseconds to build a version cold, and to load it from the disk cache."""
    sources = read_sources(bundled_plan_dir())
    bundle = build_bundle(sources)
    times: dict[str, list[float]] = {"index": [], "bundle": [], "cached": []}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PLANBOT_CACHE_DIR"] = folder
        build_bundle(sources)  # fills the cache
        for _ in range(rounds):
            for name, cache in (("index", None), ("bundle", ""), ("cached", folder)):
                analyse.cache_clear()  # a cold build, as at process start
                gc.collect()
                os.environ["PLANBOT_CACHE_DIR"] = cache if cache is not None else ""
                started = time.process_time()
                if cache is None:
                    SearchIndex(bundle.plan, bundle.thesaurus)
                else:
                    build_bundle(sources)
                times[name].append((time.process_time() - started) * 1000)
        del os.environ["PLANBOT_CACHE_DIR"]
    index, whole, cached = (statistics.median(times[name]) for name in ("index", "bundle", "cached"))
    print(
        f"index build: median {index:.0f} ms CPU; validate + build from YAML {whole:.0f} ms; "
        f"from the disk cache {cached:.0f} ms"
    )


def _cost_per_question(indexes: list[SearchIndex], questions: list[str], rounds: int) -> list[float]:
    """CPU milliseconds per question for each index: rounds interleaved, the fastest round
    kept (on a shared machine the minimum is the figure least disturbed by neighbours)."""
    best = [float("inf")] * len(indexes)
    for _ in range(rounds + 1):  # the first round warms caches
        for n, index in enumerate(indexes):
            started = time.process_time()
            for question in questions:
                index.search(question)
            best[n] = min(best[n], (time.process_time() - started) * 1000 / len(questions))
    return best


def generated_thesaurus(bundle: PlanBundle, factor: int, seed: int = 11) -> Thesaurus:
    """The bundled thesaurus with `factor - 1` made-up resident words per real one: pairs
    of plan words (保育相談, 防災公園…), so they look and spread like real entries."""
    words = sorted(
        {t.surface for c in bundle.index.chunks for t in tokenize(c.middle.title) if has_kanji(t.surface)}
    )
    chooser = random.Random(seed)
    groups = []
    for group in bundle.thesaurus.groups:
        made = [
            chooser.choice(words) + chooser.choice(words)
            for _ in group.resident_words
            for _ in range(factor - 1)
        ]
        groups.append(SynonymGroup(group.plan_word, (*group.resident_words, *made)))
    return Thesaurus(tuple(groups))


def thesaurus_cost(rounds: int) -> None:
    bundle = build_bundle(read_sources(bundled_plan_dir()))
    questions = _questions()
    big = generated_thesaurus(bundle, 10)
    sizes = [sum(len(g.resident_words) for g in t.groups) for t in (bundle.thesaurus, big)]
    bundled, generated = _cost_per_question([bundle.index, SearchIndex(bundle.plan, big)], questions, rounds)
    print(
        f"cost per question (CPU): bundled thesaurus ({sizes[0]} words) {bundled:.3f} ms; "
        f"generated 10x thesaurus ({sizes[1]} words) {generated:.3f} ms; ratio {generated / bundled:.2f}"
    )


# Runs a module as `python -m` would and leaves its peak resident memory (VmHWM, which
# starts afresh at exec, unlike getrusage's ru_maxrss) in the file named by argv[1].
_MEASURED = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status, open(out, "w") as f:
        f.write(next(line.split()[1] for line in status if line.startswith("VmHWM")))
atexit.register(peak)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


class Run(NamedTuple):
    """One child process: wall and CPU seconds, and peak resident memory in MiB."""

    wall: float
    cpu: float
    peak: float


def _child(module: str, args: list[str], stdin: IO[bytes] | None = None) -> Run:
    """Run `python -m module args`, its output discarded, with the benchmark's own plan
    cache. CPU time is what a question costs on a shared machine; wall time also
    counts waiting for the other processes."""
    env = {**os.environ, "PLANBOT_CACHE_DIR": str(CACHE)}
    with tempfile.NamedTemporaryFile() as peak:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", _MEASURED, peak.name, module, *args],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"python -m {module} {' '.join(args)} exited with {process.returncode}")
        return Run(wall, usage.ru_utime + usage.ru_stime, int(Path(peak.name).read_text()) / 1024)


def bare_loop() -> None:
    """The reference: rank-bm25 over fugashi's surface words of the same chunks, one
    question per stdin line, the top five printed as JSON (`--bare-loop`)."""
    import fugashi
    import numpy as np
    from rank_bm25 import BM25Okapi

    from index.plan import parse_plan

    tagger = fugashi.Tagger()
    chunks = list(parse_plan(read_sources(bundled_plan_dir())).located())
    texts = [
        " ".join((c.middle.title, *c.middle.items, c.measure.title, *c.measure.goals, c.chapter.title))
        for c in chunks
    ]
    bm25 = BM25Okapi([[w.surface for w in tagger(text)] for text in texts])
    for line in sys.stdin:
        scores = bm25.get_scores([w.surface for w in tagger(line.strip())])
        best = [chunks[int(i)].middle.id for i in np.argsort(-scores)[:5]]
        print(json.dumps({"question": line.strip(), "hits": best}, ensure_ascii=False))


def batch_ratio() -> None:
    questions = (_questions() * (BATCH // len(_questions()) + 1))[:BATCH]
    with tempfile.TemporaryFile() as stdin:
        stdin.write(("\n".join(questions) + "\n").encode())
        runs = {}
        for name, (module, args) in (
            ("ask", ("bot", ["ask", "--json"])),
            ("bare", ("tests.benchmark", ["--bare-loop"])),
        ):
            stdin.seek(0)
            runs[name] = _child(module, args, stdin=stdin)
    ask, bare = runs["ask"], runs["bare"]
    print(f"{BATCH} questions in one process, CPU (wall) seconds:")
    for label, run in (("python -m bot ask --json", ask), ("bare rank-bm25 + fugashi loop", bare)):
        print(f"  {label:<30} {run.cpu:.2f} s ({run.wall:.2f} s), peak RSS {run.peak:.0f} MiB")
    print(f"  ratio {ask.cpu / bare.cpu:.2f} (CPU), {ask.wall / bare.wall:.2f} (wall)")


def first_answer(rounds: int) -> None:
    """Start to first answer with the built version on disk (every start but a release's
    or a plan change's first), after one cold start that builds and stores it."""
    shutil.rmtree(CACHE, ignore_errors=True)
    cold = _child("bot", ["ask", "--json", "保育園が足りない"])
    print(
        f"cold start (builds the version): {cold.wall:.2f} s wall, {cold.cpu:.2f} s CPU, {cold.peak:.0f} MiB"
    )
    runs = [_child("bot", ["ask", "--json", "保育園が足りない"]) for _ in range(rounds)]
    wall, cpu = statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs)
    print(f"process start to first answer (python -m bot ask): median {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"peak RSS of `python -m bot ask` (one question): {max(r.peak for r in runs):.0f} MiB")


def telegram_latency(residents: int, questions_each: int) -> None:
    from tests.botapi import BotApiServer
    from tests.helpers import BotProcess, bot_env

    questions = ["保育園が足りない", "空き家", "ゴミの分別どうなるの？", "バス少なすぎ", "今日の天気は？"]
    with tempfile.TemporaryDirectory() as tmp, BotApiServer(token="123:ABC") as api:
        process = BotProcess(bot_env(api.base_url, api.base_file_url, Path(tmp)), Path(tmp) / "bot.log")
        try:
            api.wait_polling(timeout=60)
            latencies: list[float] = []
            lock = threading.Lock()

            def resident(user: int) -> None:
                for n in range(questions_each):
                    before = len(api.messages(user))
                    started = time.perf_counter()
                    api.send_text(user, questions[(user + n) % len(questions)])
                    while len(api.messages(user)) == before:
                        time.sleep(0.002)
                    with lock:
                        latencies.append((time.perf_counter() - started) * 1000)

            threads = [threading.Thread(target=resident, args=(10_000 + u,)) for u in range(residents)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            process.stop()
    print(
        f"Telegram reply latency ({residents} concurrent residents x {questions_each}, local Bot API): "
        f"p50 {percentile(latencies, 0.5):.0f} ms  p95 {percentile(latencies, 0.95):.0f} ms  "
        f"p99 {percentile(latencies, 0.99):.0f} ms  ({len(latencies) / elapsed:.0f} replies/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--questions-each", type=int, default=4)
    parser.add_argument("--skip-telegram", action="store_true")
    parser.add_argument(
        "--bare-loop", action="store_true", help="Run only the reference loop (used by the ratio)."
    )
    args = parser.parse_args()
    if args.bare_loop:
        bare_loop()
        return
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
    build_time(args.rounds)
    query_latency(args.rounds)
    thesaurus_cost(max(1, args.rounds // 4))
    first_answer(5)
    batch_ratio()
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this benchmark process: {own_rss:.0f} MiB")
    if not args.skip_telegram:
        telegram_latency(args.residents, args.questions_each)


if __name__ == "__main__":
    main()

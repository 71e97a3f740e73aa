"""Speed and size figures for the README: `python -m tests.benchmark` (a script, not a test).

Prints query latency percentiles in-process over the labelled question sets, index
build time, time from process start to first answer, peak memory, and reply
latency percentiles through the real Telegram bot with 50 concurrent residents.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from index import build_bundle, bundled_plan_dir, read_sources
from index.evaluate import read_questions
from index.search import SearchIndex
from index.tokenizer import analyse

ROOT = Path(__file__).resolve().parent.parent
QUESTION_FILES = [
    ROOT / "tests" / "data" / "questions.jsonl",
    ROOT.parent / "shared" / "eval" / "dev_questions.jsonl",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def query_latency(rounds: int) -> None:
    bundle = build_bundle(read_sources(bundled_plan_dir()))
    questions = [q.q for path in QUESTION_FILES if path.exists() for q in read_questions(path)]
    for question in questions:  # warm caches (tagger, numpy)
        bundle.index.search(question)
    timings = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            bundle.index.search(question)
            timings.append((time.perf_counter() - started) * 1000)
    print(
        f"query latency (in-process, {len(questions)} questions x {rounds}): "
        f"p50 {percentile(timings, 0.5):.2f} ms  p99 {percentile(timings, 0.99):.2f} ms  "
        f"max {max(timings):.2f} ms"
    )


def build_time(rounds: int) -> None:
    sources = read_sources(bundled_plan_dir())
    bundle = build_bundle(sources)
    index_times, bundle_times = [], []
    for _ in range(rounds):
        analyse.cache_clear()  # a cold build, as at process start
        gc.collect()
        started = time.perf_counter()
        SearchIndex(bundle.plan, bundle.thesaurus)
        index_times.append((time.perf_counter() - started) * 1000)
        analyse.cache_clear()
        gc.collect()
        started = time.perf_counter()
        build_bundle(sources)
        bundle_times.append((time.perf_counter() - started) * 1000)
    print(
        f"index build: median {statistics.median(index_times):.1f} ms; "
        f"validate + build from YAML: median {statistics.median(bundle_times):.1f} ms"
    )


def first_answer(rounds: int) -> None:
    wall = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot", "ask", "--json", "保育園が足りない"],
            check=True,
            capture_output=True,
        )
        wall.append(time.perf_counter() - started)
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"process start to first answer (python -m bot ask): median {statistics.median(wall):.2f} s")
    print(f"peak RSS of `python -m bot ask`: {child_rss:.0f} MiB")


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
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
    build_time(args.rounds)
    query_latency(args.rounds)
    first_answer(5)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this benchmark process: {own_rss:.0f} MiB")
    if not args.skip_telegram:
        telegram_latency(args.residents, args.questions_each)


if __name__ == "__main__":
    main()

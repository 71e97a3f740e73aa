"""The `python -m bot` command group: the product's one entry point.

Commands import heavy modules (telegram, the web app) only when they run, so
`ask` stays the quick, scriptable path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from index import PlanDataError, load_bundle
from index.evaluate import evaluate as run_evaluation
from index.evaluate import read_questions

from .answer import answer_lines, render_plain
from .outline import outline_lines, plan_json

PLAN_DIR = click.Path(file_okay=False, path_type=Path)


def _bundle(plan_dir: Path | None):  # noqa: ANN202 - PlanBundle
    try:
        return load_bundle(plan_dir)
    except PlanDataError as error:
        raise click.ClickException(f"the plan data has errors:\n{error}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Asaka City comprehensive plan bot: answers residents' questions from the plan."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@click.option("--check", "check_dir", type=PLAN_DIR, help="Validate a plan folder and report every error.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def plan(as_json: bool, check_dir: Path | None, plan_dir: Path | None) -> None:
    """Show the plan's outline, print it as JSON, or validate a plan folder.

    Example: python -m bot plan --check plan_data
    """
    if check_dir is not None:
        try:
            bundle = load_bundle(check_dir)
        except PlanDataError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(error.problems)} problem(s) in {check_dir}", err=True)
            sys.exit(1)
        chapters = bundle.plan.chapters
        measures = sum(len(c.measures) for c in chapters)
        middles = sum(1 for _ in bundle.plan.located())
        click.echo(
            f"OK: {check_dir}: {len(chapters)} chapters, {measures} measures, {middles} middle measures, "
            f"{len(bundle.thesaurus.groups)} synonym groups"
        )
        return
    bundle = _bundle(plan_dir)
    if as_json:
        click.echo(json.dumps(plan_json(bundle.plan), ensure_ascii=False, indent=2))
        return
    click.echo(render_plain(outline_lines(bundle.plan)))


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def ask(question: str | None, as_json: bool, plan_dir: Path | None) -> None:
    """Answer one question as a resident would read it; with no QUESTION, read one per line from stdin.

    Example: python -m bot ask --json "保育園が足りない"
    """
    bundle = _bundle(plan_dir)
    questions = [question] if question is not None else (line.rstrip("\n") for line in sys.stdin)
    for text in questions:
        if question is None and not text.strip():
            continue
        result = bundle.index.search(text)
        if as_json or question is None:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            click.echo(render_plain(answer_lines(bundle.plan, result)))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="List every question not answered at rank 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the overall figures as JSON.")
@click.option("--plan-dir", type=PLAN_DIR, help="Plan folder (default: the bundled plan_data/).")
def evaluate(file: Path, verbose: bool, as_json: bool, plan_dir: Path | None) -> None:
    """Score answers on labelled questions: hit@1, hit@3, MRR@5 per kind, declines.

    Example: python -m bot evaluate ../shared/eval/dev_questions.jsonl -v
    """
    try:
        questions = read_questions(file)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    report = run_evaluation(_bundle(plan_dir).index, questions)
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    click.echo("\n".join(report.lines(verbose=verbose)))


def main() -> None:
    cli(prog_name="python -m bot")

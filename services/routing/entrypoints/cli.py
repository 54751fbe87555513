"""`samad routing ...`: classify complaints, measure the classifier, rebuild the labelled split."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from services.routing.bootstrap import bootstrap

app = typer.Typer(
    help="Routing: classify complaints, evaluate the rules, the labelled datasets.", no_args_is_help=True
)


@app.command()
def classify(
    threshold: Annotated[float | None, typer.Option(help="Override the confidence threshold")] = None,
) -> None:
    """Read JSON lines {"text": ...} on stdin; write {"agency", "confidence", "explanation"} per line.

    agency is null when the case would go to triage. The same code path as the running service.
    """
    decide = bootstrap().classify.decide
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            text = obj["text"] if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise ValueError('each line must be a JSON object with a "text" string')
            category = obj.get("category")
            doc = decide(text, category if isinstance(category, str) else None, threshold).to_json()
        except (ValueError, KeyError) as exc:
            doc = {"agency": None, "confidence": 0.0, "explanation": [], "error": str(exc)}
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        out.flush()


@app.command()
def evaluate(
    dataset: Annotated[
        str,
        typer.Option("--set", help="heldout, tune, dev, or a path to a JSON-lines file with text and agency"),
    ] = "heldout",
    threshold: Annotated[float | None, typer.Option(help="Override the confidence threshold")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="List every complaint not routed right")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Accuracy (triage counts as not right), share sent to triage, and precision of routed cases."""
    try:
        result = bootstrap().evaluate(dataset, threshold)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    figures = result.figures
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"set: {dataset} ({figures['complaints']} labelled complaints), threshold {figures['threshold']:.2f}"
        )
        typer.echo(f"accuracy (right agency; triage counts as not right): {figures['accuracy']:.1%}")
        typer.echo(f"sent to triage: {figures['triage_share']:.1%}")
        precision = figures["routed_precision"]
        typer.echo(
            f"precision of routed cases: {precision:.1%}"
            if precision is not None
            else "precision: nothing routed"
        )
        for code, acc in figures["per_agency_accuracy"].items():
            typer.echo(f"  {code:<26} {acc:.0%}")
    if errors:
        for miss in result.misses:
            r, got = miss.example, miss.got
            label = r.agency.value if r.agency else "?"
            typer.echo(
                f"{r.id}\texpected {label}\tgot {got.value if got else 'triage'} ({miss.confidence:.2f})\t{r.text}"
            )


@app.command("build-datasets")
def build_datasets(
    force: Annotated[
        bool, typer.Option(help="Rewrite the existing split (it is meant to be written once)")
    ] = False,
) -> None:
    """Write tune.jsonl and heldout.jsonl from data/datasets/complaints (seed 111, 30% held out)."""
    tune, held = bootstrap().build_datasets(force=force)
    typer.echo(f"tuning part: {tune} complaints, held-out part: {held} complaints")


COMMANDS = {"routing": app}

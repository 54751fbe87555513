"""`samad routing ...`: classify complaints, measure the classifier, rebuild the labelled split."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from contracts.catalogue import AgencyCode
from services.routing import datasets
from services.routing.adapters.rule_files import load_rulebook
from services.routing.domain.classifier import Classifier
from services.routing.service import decide_text
from services.routing.settings import RoutingSettings

app = typer.Typer(
    help="Routing: classify complaints, evaluate the rules, the labelled datasets.", no_args_is_help=True
)

SETS = {"heldout": datasets.HELDOUT, "tune": datasets.TUNE, "dev": datasets.DEV}


def _classifier(settings: RoutingSettings) -> Classifier:
    return Classifier(load_rulebook(settings.routing_rules_dir))


@app.command()
def classify(
    threshold: Annotated[float | None, typer.Option(help="Override the confidence threshold")] = None,
) -> None:
    """Read JSON lines {"text": ...} on stdin; write {"agency", "confidence", "explanation"} per line.

    agency is null when the case would go to triage. The same code path as the running service.
    """
    settings = RoutingSettings()
    classifier = _classifier(settings)
    limit = settings.routing_threshold if threshold is None else threshold
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
            result = decide_text(classifier, limit, text, category if isinstance(category, str) else None)
            doc = result.to_json()
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
    settings = RoutingSettings()
    classifier = _classifier(settings)
    limit = settings.routing_threshold if threshold is None else threshold
    path = SETS.get(dataset) or Path(dataset)
    rows = [r for r in datasets.load(path) if r.agency is not None]
    if not rows:
        raise typer.BadParameter(f"no labelled complaints in {path}")
    right = routed = routed_right = 0
    per_agency: Counter[str] = Counter()
    per_agency_right: Counter[str] = Counter()
    wrong = []
    for r in rows:
        result = decide_text(classifier, limit, r.text)
        assert r.agency is not None
        per_agency[r.agency.value] += 1
        if result.agency is not None:
            routed += 1
            routed_right += result.agency == r.agency
        if result.agency == r.agency:
            right += 1
            per_agency_right[r.agency.value] += 1
        else:
            wrong.append((r, result.agency, result.confidence))
    figures = {
        "set": dataset,
        "complaints": len(rows),
        "threshold": limit,
        "accuracy": round(right / len(rows), 4),
        "triage_share": round((len(rows) - routed) / len(rows), 4),
        "routed_precision": round(routed_right / routed, 4) if routed else None,
        "per_agency_accuracy": {
            a.value: round(per_agency_right[a.value] / per_agency[a.value], 3)
            for a in AgencyCode
            if per_agency[a.value]
        },
    }
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"set: {dataset} ({len(rows)} labelled complaints), threshold {limit:.2f}")
        typer.echo(f"accuracy (right agency; triage counts as not right): {figures['accuracy']:.1%}")
        typer.echo(f"sent to triage: {figures['triage_share']:.1%}")
        precision = figures["routed_precision"]
        typer.echo(
            f"precision of routed cases: {precision:.1%}"
            if precision is not None
            else "precision: nothing routed"
        )
        for code, acc in figures["per_agency_accuracy"].items():  # type: ignore[attr-defined]
            typer.echo(f"  {code:<26} {acc:.0%}")
    if errors:
        for r, got, conf in wrong:
            label = r.agency.value if r.agency else "?"
            typer.echo(
                f"{r.id}\texpected {label}\tgot {got.value if got else 'triage'} ({conf:.2f})\t{r.text}"
            )


@app.command("build-datasets")
def build_datasets(
    force: Annotated[
        bool, typer.Option(help="Rewrite the existing split (it is meant to be written once)")
    ] = False,
) -> None:
    """Write tune.jsonl and heldout.jsonl from data/datasets/complaints (seed 111, 30% held out)."""
    tune, held = datasets.build(force=force)
    typer.echo(f"tuning part: {tune} complaints, held-out part: {held} complaints")


COMMANDS = {"routing": app}

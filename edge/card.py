"""The model card of a brought model's edge folder: the door's card (where the model came from,
its data, its accuracy) with the edge report's table and verdict, as `model_card.md` beside the
files, so the card travels (and is signed) with them. A run folder's card is the run's own
(`tfmodel.analysis.model_card`), which reads the same report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.device.names import SIGNATURE
from tfmodel.runs import MODEL_CARD_FILE


def write_edge_card(model: Any, splits: Any, out_dir: Path, report: dict[str, Any]) -> Path:
    """`out_dir/model_card.md` for `model` (the door's description), from report.json's content."""
    from tfmodel.brought.card import evaluate, render_card

    signature = {SIGNATURE: ("every .tflite file", f"`{model.input_name}`", "`probabilities`")}
    card = render_card(model, signature, evaluate(model, splits)).rstrip("\n")
    edge = (
        f"## Edge variants\n\nMeasured on the test split with {report['interpreter']} on "
        f"{report['cpu']}:\n\n{report['table']}\n\n- {report['verdict']}\n"
    )
    path = out_dir / MODEL_CARD_FILE
    path.write_text(f"{card}\n\n{edge}")
    return path

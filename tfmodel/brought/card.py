"""The model card of a described model: where it came from, what it takes and gives, the data it
was evaluated on, and the signatures it is served with. Each export writes it into its version
(`tfmodel.export.saved_model.MODEL_CARD_FILE`), so the card travels (and is signed) with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tfmodel.brought.description import KERAS3, RUN, SAVED_MODEL, TF_KERAS, BroughtModel

KIND_TEXT = {
    RUN: "a model trained by `python -m tfmodel.train` (tf_keras)",
    KERAS3: "a .keras file saved by Keras 3",
    TF_KERAS: "a .keras file saved by tf_keras (Keras 2)",
    SAVED_MODEL: "a SavedModel folder, used through its `serving_default` signature",
}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Top-1 accuracy of the model on the test split of `data`."""

    data: str
    examples: int
    accuracy: float


def evaluate(brought: BroughtModel, splits: Any) -> Evaluation:
    """The model's top-1 accuracy on the test split of the data it came with, predicted a batch
    at a time."""
    from tfmodel.data import reading

    predicted = reading.predict_split(brought.predict, splits, "test").argmax(axis=1)
    accuracy = float(np.mean(predicted == np.asarray(splits.y_test)))
    return Evaluation(str(brought.data), len(predicted), accuracy)


def render_card(
    brought: BroughtModel,
    signatures: dict[str, tuple[str, str, str]],
    evaluation: Evaluation | None,
) -> str:
    """The card's Markdown; `signatures` as `tfmodel.export.saved_model.read_signatures` reads."""
    sections = [
        f"# Model card: {brought.name}",
        _source_section(brought),
        _model_section(brought),
        _data_section(brought, evaluation),
        _signatures_section(signatures),
    ]
    return "\n\n".join(sections) + "\n"


def _source_section(brought: BroughtModel) -> str:
    source = f"`{brought.source}`" if brought.source else "the model in memory after training"
    return (
        "## Where it came from\n\n"
        f"- {source}: {KIND_TEXT[brought.kind]}\n"
        f"- sha256: `{brought.sha256 or '—'}`\n"
        f"- Keras version: {brought.keras_version or '—'}\n"
        f"- parameters: {brought.parameters:,}"
    )


def _model_section(brought: BroughtModel) -> str:
    shape = ", ".join(str(size) for size in brought.input_shape)
    gives = "logits (softmax applied on export)" if brought.gives_logits else "probabilities"
    pruning = brought.pruning or f"no ({brought.pruning_why_not})"
    qat = "TFMOT" if brought.qat else f"no ({brought.qat_why_not})"
    return (
        "## Model\n\n"
        f"- input `{brought.input_name}`: {brought.input_dtype}[batch, {shape}]\n"
        f"- output: {gives} over {brought.num_classes} classes: {', '.join(brought.labels)}\n"
        f"- edge: pruning {pruning}; quantization-aware training {qat}"
    )


def _data_section(brought: BroughtModel, evaluation: Evaluation | None) -> str:
    if evaluation is None:
        data = f"`{brought.data}`" if brought.data else "none given (`--data SOURCE`)"
        return f"## Data\n\n- data: {data}; not evaluated here"
    return (
        "## Data\n\n"
        f"- evaluated on the test split of `{evaluation.data}`: top-1 accuracy "
        f"**{evaluation.accuracy:.4f}** (n={evaluation.examples})"
    )


def _signatures_section(signatures: dict[str, tuple[str, str, str]]) -> str:
    lines = ["## Serving signatures", ""]
    for name, (method, inputs, outputs) in signatures.items():
        lines.append(f"- `{name}` ({method}): {inputs} → {outputs}")
    return "\n".join(lines)

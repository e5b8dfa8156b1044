"""What pruning shares for either Keras: its schedule, how sparsity is counted, a `.tflite`'s count.

No Keras here: edge.prune (tfmot, tf_keras) and edge.prune_keras3 (the project's own, Keras 3) both
take their steps and counts from this module, so the two pruners cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.device.runtime import find_interpreter
from tfmodel.errors import UserError

# TFLite ops whose second input is a weight matrix (TRANSPOSE_CONV: output shape, weights, input).
KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_3D", "TRANSPOSE_CONV")


@dataclass(frozen=True)
class PolynomialDecay:
    """TFMOT's `PolynomialDecay` pruning schedule, same defaults.

    sparsity(t) = final + (initial − final)·(1 − p)^power, p = clip((t − begin)/(end − begin), 0, 1)
    masks are updated at step t when begin ≤ t ≤ end and (t − begin) mod frequency = 0.
    `t` counts finished optimizer steps (the optimizer's `iterations`), as TFMOT's callback does.
    The formula is Zhu & Gupta 2017 (arXiv:1710.01878), as TFMOT's docstring cites it.
    """

    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    power: float = 3
    frequency: int = 100

    def __post_init__(self) -> None:
        for name in ("initial_sparsity", "final_sparsity"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.begin_step <= self.end_step or self.frequency < 1:
            raise ValueError(
                f"need 0 ≤ begin_step ≤ end_step and frequency ≥ 1, got begin_step "
                f"{self.begin_step}, end_step {self.end_step}, frequency {self.frequency}"
            )

    def __call__(self, step: int) -> tuple[bool, float]:
        """(whether masks are updated at `step`, the sparsity they are updated to)."""
        span = self.end_step - self.begin_step
        p = 1.0 if span == 0 else min(1.0, max(0.0, (step - self.begin_step) / span))
        sparsity = (
            self.final_sparsity
            + (self.initial_sparsity - self.final_sparsity) * (1 - p) ** self.power
        )
        due = self.begin_step <= step <= self.end_step
        return due and (step - self.begin_step) % self.frequency == 0, sparsity


def check_pruning_settings(target_sparsity: float, epochs: int) -> None:
    """Raise UserError, naming the config key, unless the target is in [0, 1) and epochs ≥ 1."""
    if not 0 <= target_sparsity < 1:
        raise UserError(
            f"edge.target_sparsity is {target_sparsity}; give the fraction of weights to zero, "
            "in [0, 1), e.g. 0.8"
        )
    if epochs < 1:
        raise UserError(f"edge.prune_epochs is {epochs}; pruning needs at least 1 epoch, e.g. 4")


def pruning_steps(total_steps: int) -> tuple[int, int]:
    """(end_step, frequency): the target is reached after about 3/4 of the fine-tuning steps, so
    the rest recovers accuracy with the mask fixed; end_step is a multiple of the frequency,
    since masks change only every `frequency` steps and would otherwise stop short of the target."""
    frequency = max(1, total_steps // 20)
    end_step = max(frequency, (total_steps * 3 // 4) // frequency * frequency)
    return end_step, frequency


def zero_fraction(arrays: list[np.ndarray]) -> float:
    """The fraction of the entries of `arrays`, taken together, that are exactly zero."""
    if not arrays:
        return 0.0
    return float(sum(np.sum(a == 0) for a in arrays) / sum(a.size for a in arrays))


def tflite_kernel_sparsity(path: str | Path) -> dict[str, float]:
    """Each weight matrix of a `.tflite` file (`tflite_kernels`), by tensor name: the fraction of
    its values that are zero.

    TFLite's int8 weights are symmetric (zero point 0), so a stored 0 is a zero weight (a small
    weight that int8 rounds to zero counts too: that is what the file holds).
    """
    return {name: float(np.mean(kernel == 0)) for name, kernel in tflite_kernels(path).items()}


def tflite_kernels(path: str | Path) -> dict[str, np.ndarray]:
    """Each weight matrix of a `.tflite` file (the weights of its convolution and fully connected
    ops) as stored, by tensor name; weights stored in float16 or int8 behind a DEQUANTIZE op are
    read from that op's input."""
    interpreter_class, _ = find_interpreter()
    interpreter = interpreter_class(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    # _get_ops_details is private, but every interpreter we take has it (as edge.device reads it).
    ops = interpreter._get_ops_details()
    dequantized = {op["outputs"][0]: op["inputs"][0] for op in ops if op["op_name"] == "DEQUANTIZE"}
    kernels = {}
    for op in ops:
        if op["op_name"] not in KERNEL_OPS:
            continue
        index = dequantized.get(op["inputs"][1], op["inputs"][1])
        kernels[tensors[index]["name"]] = interpreter.get_tensor(index).copy()
    return kernels

"""LiteRT 2.x's `CompiledModel` API beside the Interpreter, for float-I/O `.tflite` files.

`ai_edge_litert.compiled_model.CompiledModel` (ai-edge-litert ≥ 2.x) compiles the model once for
an accelerator and runs it on tensor buffers; CPU here (XNNPACK). On a phone or board with a GPU
or NPU pass `accelerator="gpu"` or `"npu"` (`--accelerator gpu` on the benchmark): LiteRT then
runs what it can there and the rest on the CPU. Like the runtime, numpy and LiteRT only.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from edge.device.cpu import cpu_has
from edge.device.errors import EdgeError
from edge.device.quiet import held_stderr
from edge.device.runtime import SIGNATURE

ACCELERATORS = ("cpu", "gpu", "npu")


def compiled_model_available() -> bool:
    """Whether the installed ai-edge-litert has the CompiledModel API and this CPU can run it.

    On arm64 it needs the ARMv8.2 dot-product instructions (`asimddp`): ai-edge-litert 2.3's
    CompiledModel stops with SIGILL on a Cortex-A53 or A72 (Pi 3 and 4), which lack them, and runs
    on an A76 (Pi 5); its Interpreter runs on all three. Without `asimddp` only the Interpreter is
    offered.
    """
    try:
        from ai_edge_litert.compiled_model import CompiledModel  # noqa: F401
    except ImportError:
        return False
    return platform.machine() not in ("aarch64", "arm64") or cpu_has("asimddp") is not False


class CompiledEdgeModel:
    """A float-I/O `.tflite` compiled by LiteRT; `predict(x)` gives `EdgeModel.predict`'s answer."""

    def __init__(self, path: Path, num_threads: int | None = None, accelerator: str = "cpu"):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        if accelerator not in ACCELERATORS:
            choices = ", ".join(ACCELERATORS)
            raise EdgeError(f"accelerator {accelerator!r} is unknown: use {choices}")
        hardware = HardwareAccelerator.CPU  # the CPU stays the fallback for unsupported ops
        if accelerator != "cpu":
            hardware |= getattr(HardwareAccelerator, accelerator.upper())
        options = Options(hardware, cpu_options=CpuOptions(num_threads=num_threads or 0))
        try:
            with held_stderr():  # its C++ log: vendor plugins it cannot load, "XNNPACK delegate"
                self._model = CompiledModel.from_file(str(path), options=options)
        except RuntimeError as err:
            raise EdgeError(f"LiteRT could not compile {path} for {accelerator}: {err}") from None
        index = self._model.get_signature_index(SIGNATURE)
        self._index = index
        self._inputs = self._model.create_input_buffers(index)
        self._outputs = self._model.create_output_buffers(index)
        (output,) = self._model.get_output_tensor_details(SIGNATURE).values()
        self._output_size = int(np.prod(output["shape"]))
        (detail,) = self._model.get_input_tensor_details(SIGNATURE).values()
        if np.dtype(detail["dtype"]).kind != "f":
            raise EdgeError(f"{path} has int8 input; CompiledModel here takes float-I/O files")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (1, classes) for one raw-pixel example shaped (1, *input_shape)."""
        self._inputs[0].write(np.ascontiguousarray(x, dtype=np.float32))
        self._model.run_by_index(self._index, self._inputs, self._outputs)
        return self._outputs[0].read(self._output_size, np.float32).reshape(1, -1)

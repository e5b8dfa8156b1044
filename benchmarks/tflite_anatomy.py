"""What a `.tflite` is made of, for explaining a benchmark's size and speed figures.

`byte_breakdown` splits a file's bytes into weights by type, quantization parameters (a
per-channel int8 tensor carries a float32 scale and an int64 zero point per channel) and the rest
(graph, tensor names, metadata), read with TensorFlow's flatbuffer schema. `xnnpack_partitions`
says how many pieces XNNPACK's default delegate took and which ops it left between them, read
from the interpreter after delegation (its private node list: the public API shows only the
graph as written).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge.device.runtime import find_interpreter

SCALE_BYTES, ZERO_POINT_BYTES = 4, 8  # float32 scale, int64 zero point (TFLite's schema)


@dataclass(frozen=True)
class ByteBreakdown:
    """Where a file's bytes go."""

    total: int
    weights: dict[str, int]  # tensor type (INT8, INT32, FLOAT32) → bytes of constant data
    quantization: int  # scales and zero points of every quantized tensor
    per_channel_tensors: int  # tensors quantized per channel

    @property
    def rest(self) -> int:
        """Graph, tensor names, signatures and metadata."""
        return self.total - sum(self.weights.values()) - self.quantization


def byte_breakdown(path: Path) -> ByteBreakdown:
    """Weights by type, quantization parameters and the rest of one `.tflite` file."""
    from tensorflow.lite.python import schema_py_generated as schema

    content = path.read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    weights: Counter[str] = Counter()
    quantization = per_channel = 0
    for tensor in (t for graph in model.subgraphs for t in graph.tensors):
        data = model.buffers[tensor.buffer].data
        if data is not None and len(data):
            weights[type_names[tensor.type]] += len(data)
        params = tensor.quantization
        if params is not None and params.scale is not None:
            zero_points = 0 if params.zeroPoint is None else len(params.zeroPoint)
            quantization += len(params.scale) * SCALE_BYTES + zero_points * ZERO_POINT_BYTES
            per_channel += len(params.scale) > 1
    return ByteBreakdown(len(content), dict(weights), quantization, per_channel)


def xnnpack_partitions(path: Path) -> tuple[int, list[str]]:
    """(pieces XNNPACK took, ops it left between them) for one file on the default interpreter."""
    interpreter_class, _ = find_interpreter()
    interpreter = interpreter_class(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    nodes = interpreter._interpreter  # private: the node list after delegation
    names = [nodes.NodeName(i) for i in range(nodes.NumNodes())]
    delegates = [i for i, name in enumerate(names) if name == "DELEGATE"]
    produced = {int(t) for i in delegates for t in nodes.NodeOutputs(i)}
    consumed = {int(t) for i in delegates for t in nodes.NodeInputs(i)}
    between = [
        names[i]
        for i in range(len(names))
        if names[i] != "DELEGATE"
        and produced & {int(t) for t in nodes.NodeInputs(i)}
        and consumed & {int(t) for t in nodes.NodeOutputs(i)}
    ]
    return len(delegates), between

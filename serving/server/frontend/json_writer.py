"""JSON text exactly as TF Serving's REST API prints it (rapidjson's PrettyWriter, its numbers).

TF Serving writes responses with rapidjson's PrettyWriter: 4-space indents, each object member and
array element on its own line, except inside arrays written in "single line" mode (`[3.0, 3.5]`).
Floats are printed with 6 significant digits (`%g`) when that reads back as the same value, else
with 9 (float) or 17 (double) digits, and whole numbers get a trailing `.0`: a float32 0.2 prints
`0.2`, not `0.20000000298023224`; NaN and infinities print `NaN`, `Infinity`, `-Infinity`.
"""

import dataclasses
import json
import math

import numpy as np


def format_decimal(value: float, float32: bool) -> str:
    """A float as TF Serving's REST API prints it (its `WriteDecimal`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    if _parse(text, float32) != value:
        text = f"{value:.{9 if float32 else 17}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _parse(text: str, float32: bool) -> float:
    return float(np.float32(text)) if float32 else float(text)


@dataclasses.dataclass
class _Level:
    in_array: bool
    count: int = 0


class JsonWriter:
    """A streaming JSON writer that lays text out as rapidjson's PrettyWriter does.

    `single_line_arrays` can be switched on and off between calls, as TF Serving does with
    rapidjson's `kFormatSingleLineArray` option; it takes effect for the next element or `]`.
    """

    def __init__(self):
        self.single_line_arrays = False
        self._parts: list[str] = []
        self._levels: list[_Level] = []

    def text(self) -> str:
        """The JSON written so far."""
        return "".join(self._parts)

    def start_object(self) -> None:
        self._prefix()
        self._parts.append("{")
        self._levels.append(_Level(in_array=False))

    def end_object(self) -> None:
        level = self._levels.pop()
        if level.count:
            self._parts.append("\n" + self._indent())
        self._parts.append("}")

    def start_array(self) -> None:
        self._prefix()
        self._parts.append("[")
        self._levels.append(_Level(in_array=True))

    def end_array(self) -> None:
        level = self._levels.pop()
        if level.count and not self.single_line_arrays:
            self._parts.append("\n" + self._indent())
        self._parts.append("]")

    def key(self, name: str) -> None:
        self.string(name)

    def string(self, value: str) -> None:
        self.raw(json.dumps(value, ensure_ascii=False))

    def raw(self, text: str) -> None:
        """Writes a scalar already formatted as JSON (a number, `true`, a quoted string)."""
        self._prefix()
        self._parts.append(text)

    def _indent(self) -> str:
        return "    " * len(self._levels)

    def _prefix(self) -> None:
        if not self._levels:
            return
        level = self._levels[-1]
        if level.in_array:
            if level.count:
                self._parts.append(", " if self.single_line_arrays else ",")
            if not self.single_line_arrays:
                self._parts.append("\n" + self._indent())
        else:
            if level.count == 0:
                self._parts.append("\n")
            else:
                self._parts.append(",\n" if level.count % 2 == 0 else ": ")
            if level.count % 2 == 0:
                self._parts.append(self._indent())
        level.count += 1

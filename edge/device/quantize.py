"""Float ⇄ int8 for a quantized model's input and output, bit-identical to the book and fast.

Part of the on-device runtime (`edge.device.runtime.EdgeModel`): numpy only, no TensorFlow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

# Up to this many input values, one searchsorted quantizes faster than six ufunc calls.
SEARCH_MAX_VALUES = 128


class Quantizer:
    """One tensor's float ⇄ stored-dtype conversion, with its constants and tables made once.

    Float tensors pass through. Integer tensors use q = clip(round(x / scale) + zero_point) in,
    rounding half to even as `np.round` does, and x = (q − zero_point) · scale out, read from a
    table of every stored value (256 for int8). On a small model each numpy call costs about as
    much as `invoke` itself, so quantizing makes as few as it can, into a buffer made once per
    batch shape, by one of two routes that both give the formula's q bit for bit:

    - up to SEARCH_MAX_VALUES values, two calls: q is a non-decreasing step function of the
      float32 x, so `searchsorted` among the 255 float32s where it steps (found once, by
      bisection on the formula itself) counts the steps below x, and `take` turns the count
      into the stored value;
    - more values (searchsorted's binary search costs ~25 ns a value), six ufunc calls, with
      0-d array constants (a numpy scalar argument is converted to an array on every call):
      x / scale, clipped to [min − zero_point, max − zero_point] (the bounds are integers, so
      clipping before rounding gives the same q), rint, + zero_point, cast to the stored dtype.
    """

    def __init__(self, detail: dict[str, Any]) -> None:
        self.dtype = np.dtype(detail["dtype"])
        if self.dtype.kind == "f":
            self.dequantize = _converter(self.dtype, np.float32)  # get_tensor's copy, as float32
            return
        if self.dtype.itemsize > 2:
            raise ValueError(f"a quantized {self.dtype} input or output is unsupported")
        scale, zero_point = detail["quantization"]
        limits = np.iinfo(self.dtype)
        self.scale, self.zero_point = np.array(scale, np.float32), np.array(zero_point, np.float32)
        self.low = np.array(limits.min - zero_point, np.float32)
        self.high = np.array(limits.max - zero_point, np.float32)
        self.levels = np.arange(limits.min, limits.max + 1).astype(self.dtype)  # every q
        self.limits = np.array([limits.min, limits.max], np.float32)
        # Every bit pattern of the stored dtype, in unsigned order: `take` with a negative int8
        # index counts from the end, which is where that value sits.
        patterns = np.arange(2 ** (8 * self.dtype.itemsize), dtype=f"u{self.dtype.itemsize}")
        self.table = (patterns.view(self.dtype).astype(np.float32) - zero_point) * self.scale
        self.dequantize = self.table.take  # a new float32 array for the tensor's values

    @functools.cached_property
    def steps(self) -> np.ndarray:
        """The largest float32 below each level but the lowest (~2 ms, made when first routed)."""
        return _steps(self.quantize_by_the_book, self.levels[1:])

    def quantize_by_the_book(self, x: np.ndarray) -> np.ndarray:
        """q = clip(round(x / scale) + zero_point), still as float32."""
        with np.errstate(over="ignore"):  # huge x / tiny scale: inf, clipped like any large x
            return np.clip(np.rint(x / self.scale) + self.zero_point, *self.limits)

    def route(self, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
        """quantize(x): float32 `x` shaped `shape` in the stored dtype, in a buffer it reuses."""
        if self.dtype.kind == "f":
            return _converter(np.float32, self.dtype)
        stored = np.empty(shape, self.dtype)
        if stored.size <= SEARCH_MAX_VALUES:
            return functools.partial(self._search, self.steps, stored)  # steps made at load
        return functools.partial(self._compute, np.empty(shape, np.float32), stored)

    def _search(self, steps: np.ndarray, stored: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.levels.take(steps.searchsorted(x), out=stored, mode="clip")

    def _compute(self, scaled: np.ndarray, stored: np.ndarray, x: np.ndarray) -> np.ndarray:
        np.divide(x, self.scale, out=scaled)
        np.maximum(scaled, self.low, out=scaled)
        np.minimum(scaled, self.high, out=scaled)
        np.rint(scaled, out=scaled)
        np.add(scaled, self.zero_point, out=scaled)
        np.copyto(stored, scaled, casting="unsafe")  # exact: whole numbers in range
        return stored


def _steps(quantize: Callable[[np.ndarray], np.ndarray], levels: np.ndarray) -> np.ndarray:
    """For each of `levels`, the largest float32 that `quantize` (non-decreasing) puts below it.

    Bisects all levels at once over the float32s in order, from −inf to +inf, as integers: a
    float's bits, negated for negative floats (so −0.0 and +0.0 meet at 0).
    """
    below = np.full(levels.shape, -0x7F800000, np.int64)  # −inf: quantizes to the lowest level
    above = np.full(levels.shape, 0x7F800000, np.int64)  # +inf: quantizes to the highest
    while np.any(above - below > 1):
        middle = (below + above) // 2
        reaches = quantize(_float_at(middle)) >= levels
        above, below = np.where(reaches, middle, above), np.where(reaches, below, middle)
    return _float_at(below)


def _float_at(order: np.ndarray) -> np.ndarray:
    """The float32s at these positions in the order of all float32s (0 is +0.0)."""
    bits = np.where(order < 0, -order | 0x80000000, order)
    return bits.astype(np.uint32).view(np.float32)


def _converter(source: Any, target: Any) -> Callable[[np.ndarray], np.ndarray]:
    """An array of `source` dtype as `target`: plain asarray, the cheapest call, when they match."""
    if np.dtype(source) == np.dtype(target):
        return np.asarray
    return functools.partial(np.asarray, dtype=target)

"""The search space: the config's `tune.space` as KerasTuner hyperparameters, and back.

Each entry names a config key and either a list of choices or a range:

    optimizer.name: [sgd, adam, rmsprop]
    optimizer.learning_rate: {min: 1.0e-4, max: 0.1, log: true}
    model.hidden_units: [[64], [128], [128, 64]]
    training.epochs: {min: 5, max: 20, step: 5}

Every choice and both ends of every range are checked against the config's own types before any
trial runs. KerasTuner's Choice holds only scalars of one type, so other choices (lists, mixed
types) travel through it as their JSON text and are read back when a trial's config is made.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from tfmodel.config import Config, set_value
from tfmodel.errors import UserError

RANGE_KEYS = {"min", "max", "step", "log"}
HOW = "a list of choices, e.g. [sgd, adam], or a range, e.g. {min: 1.0e-4, max: 0.1, log: true}"


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One tuned config key: `choices` (by their KerasTuner value) or a numeric range."""

    key: str
    choices: dict[Any, Any] | None = None  # KerasTuner value → config value
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False


def parse_space(config: Config) -> list[Dimension]:
    """`config.tune.space` checked against the config, in declaration order."""
    if not config.tune.space:
        raise UserError(
            "tune.space is empty: give the config a tune: section listing what to search, e.g. "
            "tune: {space: {optimizer.name: [sgd, adam]}}"
        )
    return [_dimension(config, str(key), spec) for key, spec in config.tune.space.items()]


def declare(hp: Any, dimensions: list[Dimension]) -> None:
    """Register every dimension with KerasTuner's `HyperParameters` under its config key."""
    for d in dimensions:
        if d.choices is not None:
            hp.Choice(d.key, list(d.choices))
        elif d.integer:
            hp.Int(
                d.key,
                int(d.low),
                int(d.high),
                step=int(d.step) if d.step else None,
                sampling="log" if d.log else "linear",
            )
        else:
            hp.Float(d.key, d.low, d.high, step=d.step, sampling="log" if d.log else "linear")


def trial_config(config: Config, dimensions: list[Dimension], values: dict[str, Any]) -> Config:
    """A copy of `config` with the trial's `values` (KerasTuner's, keyed by config key) set."""
    trial = copy.deepcopy(config)
    for d in dimensions:
        value = values[d.key]
        set_value(trial, d.key, d.choices[value] if d.choices is not None else value)
    return trial


def _dimension(config: Config, key: str, spec: Any) -> Dimension:
    where = f"tune.space.{key}"
    if isinstance(spec, list):
        if not spec:
            raise UserError(f"{where} lists no choices; give {HOW}")
        for value in spec:
            _check_value(config, key, value, where)
        return Dimension(key, choices=_encoded_choices(spec))
    if not isinstance(spec, dict) or not {"min", "max"} <= spec.keys() <= RANGE_KEYS:
        raise UserError(f"{where} is {spec!r}; give {HOW} (range keys: min, max, step, log)")
    low, high, step, log = spec["min"], spec["max"], spec.get("step"), bool(spec.get("log"))
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise UserError(f"{where}: min, max and step must be numbers, got {spec!r}")
    if not low < high or (log and low <= 0) or (step is not None and step <= 0):
        raise UserError(
            f"{where}: need min < max, a positive step and, with log: true, min > 0; got {spec!r}"
        )
    keeps_int = [_check_value(config, key, end, where) for end in (low, high)]
    integer = all(keeps_int) and all(isinstance(v, int) for v in numbers)
    return Dimension(key, low=low, high=high, step=step, log=log, integer=integer)


def _check_value(config: Config, key: str, value: Any, where: str) -> bool:
    """Raise unless `key` is a config key that accepts `value`; True if it stays an int."""
    trial = copy.deepcopy(config)
    try:
        set_value(trial, key, value)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    *parents, leaf = key.split(".")
    node: Any = trial
    for name in parents:
        node = getattr(node, name)
    return isinstance(getattr(node, leaf), int) and not isinstance(getattr(node, leaf), bool)


def _encoded_choices(values: list[Any]) -> dict[Any, Any]:
    """Choices keyed as KerasTuner will hold them: the values if scalars of one type, else their
    JSON text (which is YAML too, so it reads the way the config file wrote it)."""
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and kinds <= {str, int, float, bool}:
        return {v: v for v in values}
    return {json.dumps(v): v for v in values}

"""Typed run configuration: defaults, then a YAML file, then `--set key=value` overrides.

Each section is a dataclass with defaults (as in TF Model Garden's config_definitions). A value is
checked against its field's type and, where the field lists them, its allowed choices; an unknown
key or bad value raises `UserError` naming the key, what is allowed and the closest match.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from tfmodel.errors import UserError
from tfmodel.files import write_text_atomically
from tfmodel.run_name import derive_run_name

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "digits_mlp.yaml"


def _choice(default: Any, *choices: Any) -> Any:
    """A dataclass field whose value must be one of `choices`."""
    return dataclasses.field(default=default, metadata={"choices": choices})


@dataclasses.dataclass
class DataConfig:
    """Where examples come from and how they are batched (`batch_size` is per replica)."""

    source: str = "sklearn:digits"
    data_dir: str | None = None
    validation_split: float = 0.1
    test_split: float = 0.2
    batch_size: int = 32
    shuffle_buffer: int = 10_000
    drop_remainder: bool = False
    # Image folders (`images:DIR`), streamed from disk; see tfmodel.data.decode and .images.
    image_size: list[int] = dataclasses.field(default_factory=lambda: [256, 256])  # [H, W]
    resize: str = _choice("stretch", "stretch", "crop", "pad")
    channels: int = _choice(3, 1, 3)
    cache: str = "none"  # none | memory | a folder for decoded images
    on_bad_file: str = _choice("error", "error", "skip")
    augment: list[str] = dataclasses.field(default_factory=list)  # e.g. [flip, rotate:0.1]


@dataclasses.dataclass
class ModelConfig:
    """The network: built in (`mlp`, `cnn`), a standard edge network by name, or the user's own.

    `alpha` is the width of the MobileNets; `weights` (none | imagenet | PATH of an .h5 body
    weights file) starts a named network's body. `builder` (FILE.py:FUNCTION or
    package.module:FUNCTION, called as FUNCTION(input_shape, num_classes)) or `from_keras`
    (PATH.keras) replace `name` with the user's model.
    Transfer learning (`tfmodel.models.transfer`): the first `freeze_epochs` of training.epochs
    train the head with the base frozen, the rest also the top `fine_tune_layers` base layers
    (a count or `all`) at `fine_tune_learning_rate` (null: optimizer.learning_rate / 10).
    """

    name: str = _choice(
        "mlp",
        "mlp",
        "cnn",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "efficientnet_b0",
    )
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [128])
    filters: list[int] = dataclasses.field(default_factory=lambda: [16, 32])
    dropout: float = 0.0
    input_name: str = "pixels"
    alpha: float = 1.0
    weights: str = "none"
    builder: str | None = None
    from_keras: str | None = None
    freeze_epochs: int = 0  # 0: no transfer learning, every layer trains from the start
    fine_tune_layers: int | str = "all"
    fine_tune_learning_rate: float | None = None


@dataclasses.dataclass
class RegularizerConfig:
    """The kernel penalty on every Dense/Conv layer: λ1·Σ|w| and/or λ2·Σw²."""

    kind: str = _choice("l2", "none", "l1", "l2", "l1_l2")
    l1: float = 0.0
    l2: float = 1e-4
    # Layer-name pattern (fnmatch) → its own {kind, l1, l2}; the first matching pattern wins.
    layers: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimizerConfig:
    """One of the project's optimizers and its learning-rate schedule."""

    name: str = _choice("sgd", "sgd", "adam", "rmsprop")
    learning_rate: float = 0.01
    schedule: str = _choice("constant", "constant", "cosine", "exponential")
    decay_rate: float = 0.5
    momentum: float = 0.9
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    bias_correction: bool = True
    amsgrad: bool = False  # Adam: step with the largest second moment so far
    rho: float = 0.9
    scale_learning_rate: bool = False


@dataclasses.dataclass
class TrainingConfig:
    """How long and where to train; `strategy` picks the tf.distribute strategy."""

    epochs: int = 10
    strategy: str = _choice("auto", "auto", "cpu", "gpu", "tpu", "mirrored", "multi_worker")
    tpu: str = "local"
    gpus: int | None = None
    cpu_devices: int | None = None
    simulate_tpu: int | None = None  # N: MirroredStrategy over N logical CPUs with TPU settings
    seed: int = 0
    precision: str = _choice("auto", "auto", "float32", "mixed_float16", "mixed_bfloat16")
    steps_per_execution: int | None = None
    jit_compile: bool = False
    early_stopping_patience: int = 0
    resume: bool = True
    backup_every_s: float = 30.0  # seconds between backups for resume (0: every epoch)
    verbose: int = _choice(1, 0, 1, 2)


@dataclasses.dataclass
class ExportConfig:
    """The SavedModel for TensorFlow Serving written at the end of training."""

    enabled: bool = True
    base_dir: str | None = None
    model_name: str | None = None
    version: int | None = None
    warmup_records: int = 5
    # float32: signatures compute in float32 whatever training used (CPU servers, TFLite);
    # as_trained: layers keep the training precision (bfloat16/float16 serving on TPU/GPU).
    precision: str = _choice("float32", "float32", "as_trained")


@dataclasses.dataclass
class EdgeConfig:
    """Pruning, quantization and TFLite conversion for devices."""

    enabled: bool = True
    target_sparsity: float = 0.8
    prune_epochs: int = 4
    variants: list[str] = dataclasses.field(
        default_factory=lambda: ["float32", "dynamic", "float16", "int8", "int8_io", "pruned_int8"]
    )
    qat: bool = False
    # int8 files calibrate their activation ranges on this many train examples, drawn by the seed.
    calibration_examples: int = 500
    # The report recommends the fastest file within this drop of the model's test accuracy.
    max_accuracy_drop: float = 0.01
    latency_seconds: float = 2.0  # the timing budget of each report row (at most 200 calls)


@dataclasses.dataclass
class TuneConfig:
    """Hyperparameter search (`python -m tfmodel.tune`) over `space`, scored on validation.

    `space` maps a config key to a list of choices (`optimizer.name: [sgd, adam]`) or a range
    (`optimizer.learning_rate: {min: 1.0e-4, max: 0.1, log: true}`, optional `step`). Hyperband's
    budget is `training.epochs` per model and `hyperband_factor`; `max_trials` caps every algorithm.
    """

    algorithm: str = _choice("random", "random", "bayesian", "hyperband")
    max_trials: int = 10
    hyperband_factor: int = 3
    dir: str = "tuning"
    space: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OutputConfig:
    """Runs go to `<dir>/<name>-<timestamp>/`; no name: `<data>_<model>` (`tfmodel.run_name`)."""

    dir: str = "runs"
    name: str | None = None  # set by `name_run` once the config is resolved


@dataclasses.dataclass
class Config:
    """A whole run; written as `config.yaml` into the run folder so it can be repeated."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    regularizer: RegularizerConfig = dataclasses.field(default_factory=RegularizerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    edge: EdgeConfig = dataclasses.field(default_factory=EdgeConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        name_run(self)


def name_run(config: Config) -> None:
    """Name a run that no layer of its config named after its data and model: an explicit
    `output.name` wins, so does one read back from a run folder's config.yaml."""
    if config.output.name is None:
        model = config.model
        config.output.name = derive_run_name(
            config.data.source, model.name, model.builder, model.from_keras
        )


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Defaults, then the YAML file at `path` (default `configs/digits_mlp.yaml`), then overrides.

    Each override is `section.key=value`, the value read as YAML (`0.05`, `[64, 32]`, `true`).
    With no `output.name` in the file or the overrides, the run is named after the data and the
    model they resolve to (`name_run`), so no name is carried over from another recipe.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise UserError(
            f"config file {path} does not exist; pass --config with a file from configs/"
        )
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML: {problem}{where}") from None
    if not isinstance(tree, dict):
        raise UserError(f"config file {path} must hold a mapping of sections, not {tree!r}")
    config = Config()
    config.output.name = None  # the defaults' name is not a layer's: named once resolved
    _merge(config, tree, "")
    apply_overrides(config, overrides)
    name_run(config)
    return config


def apply_overrides(config: Config, overrides: typing.Sequence[str]) -> None:
    """Apply `section.key=value` overrides in order, each value read as YAML; `key=` sets null.

    Training's `--set` and the later stages' (`edge.optimize --set`) go through here alike.
    """
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise UserError(f"override {override!r} must look like section.key=value")
        set_value(config, key.strip(), yaml.safe_load(text) if text.strip() else None)


def set_value(config: Config, dotted_key: str, value: Any) -> None:
    """Set `section.key` on `config` after checking the key exists and the value fits its type."""
    *parents, leaf = dotted_key.split(".")
    node: Any = config
    for depth, name in enumerate(parents):
        node = getattr(node, _known_key(node, name, ".".join(parents[:depth])))
        if not dataclasses.is_dataclass(node):
            raise UserError(
                f"config key {dotted_key!r}: {'.'.join(parents[: depth + 1])} has no keys"
            )
    _set_field(node, leaf, value, ".".join(parents))


def merged_section(section: Any, tree: dict[str, Any], where: str) -> Any:
    """A copy of the dataclass `section` with the mapping `tree` set on it, checked like a file's
    keys (`where` names it in errors): for mappings inside the config, such as
    `regularizer.layers`, whose values are sections of their own."""
    if not isinstance(tree, dict):
        raise UserError(f"config key {where!r} must be a mapping of keys to values, got {tree!r}")
    copy = dataclasses.replace(section)
    _merge(copy, tree, where)
    return copy


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain data, as written to `config.yaml`."""
    return dataclasses.asdict(config)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, loadable again with `load_config`.

    Atomically: a resumed run rewrites its config.yaml, which the next restart reads.
    """
    write_text_atomically(Path(path), yaml.safe_dump(config_to_dict(config), sort_keys=False))


def _merge(node: Any, tree: dict[Any, Any], where: str) -> None:
    for key, value in tree.items():
        _set_field(node, str(key), value, where)


def _set_field(node: Any, name: str, value: Any, where: str) -> None:
    """Set one field of the dataclass `node` (found at `where`), recursing into sections."""
    name = _known_key(node, name, where)
    key = f"{where}.{name}" if where else name
    hint = typing.get_type_hints(type(node))[name]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(
                f"config key {key!r} is a section: give it a mapping or set {key}.KEY=VALUE"
            )
        _merge(getattr(node, name), value, key)
        return
    field = next(f for f in dataclasses.fields(node) if f.name == name)
    setattr(node, name, _checked(key, value, hint, field.metadata.get("choices")))


def _known_key(node: Any, name: str, where: str) -> str:
    names = [f.name for f in dataclasses.fields(node)]
    if name in names:
        return name
    full = f"{where}.{name}" if where else name
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown config key {full!r}: allowed keys are {', '.join(names)}{hint}")


def _checked(key: str, value: Any, hint: Any, choices: tuple[Any, ...] | None) -> Any:
    """`value` converted to the field's type, or a UserError saying what the key accepts."""
    ok, converted = _convert(value, hint)
    if not ok:
        raise UserError(f"config key {key!r} must be {_type_name(hint)}, got {value!r}")
    if choices and converted not in choices:
        close = difflib.get_close_matches(str(converted), [str(c) for c in choices], n=1)
        hint_text = f"; did you mean {close[0]!r}?" if close else ""
        allowed = ", ".join(str(c) for c in choices)
        raise UserError(
            f"config key {key!r} cannot be {converted!r}: allowed values are {allowed}{hint_text}"
        )
    return converted


def _convert(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            ok, converted = _convert(value, option)
            if ok:
                return True, converted
        return False, None
    if hint is type(None):
        return value is None, None
    if hint is Any:
        return True, value
    if origin is dict:
        return isinstance(value, dict), value
    if origin is list:
        if not isinstance(value, list):
            return False, None
        (item_hint,) = typing.get_args(hint)
        items = [_convert(item, item_hint) for item in value]
        return all(ok for ok, _ in items), [item for _, item in items]
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    return False, None


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    if origin is dict:
        return "a mapping of keys to values"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, "null" if hint is type(None) else str(hint)
    )

"""The edge runtime as a device runs it: in a subprocess where importing TensorFlow fails.

Needs only numpy, Pillow and a TFLite interpreter, so it also runs on a device against a copied
edge/ folder (TFMODEL_EDGE_DIR). The reference answers are the float Keras model's probabilities
stored in samples.npz when the folder was written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge.device.compiled import CompiledEdgeModel, compiled_model_available
from edge.device.errors import EdgeError
from edge.device.quantize import SEARCH_MAX_VALUES, Quantizer
from edge.device.runtime import EdgeModel, find_interpreter

REPO = Path(__file__).resolve().parents[3]
# Python code that makes TensorFlow, Keras and tfmodel unimportable for the rest of the process.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, runpy, sys

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("tensorflow", "tf_keras", "keras", "tfmodel"):
                raise ImportError(f"{name} is blocked: the edge runtime must not need it")
            return None

    sys.meta_path.insert(0, BlockTensorFlow())
    """
)
# Runs `python -c BLOCK_TENSORFLOW MODULE ARGS...`: MODULE as __main__, with TF unimportable.
BLOCK_TENSORFLOW = BLOCKER + textwrap.dedent(
    """
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    """
)
INTERPRETERS = ["ai_edge_litert", "tflite_runtime"]


def run_without_tensorflow(module: str, *args: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-c", BLOCK_TENSORFLOW, module, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def require(interpreter: str) -> None:
    if importlib.util.find_spec(interpreter) is None:
        pytest.skip(f"{interpreter} is not installed here")


@pytest.fixture(scope="module")
def samples(edge_dir):
    with np.load(edge_dir / "samples.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def manifest(edge_dir):
    return json.loads((edge_dir / "model.json").read_text())


def test_blocker_really_blocks_tensorflow():
    result = run_without_tensorflow("tfmodel.backend")
    assert result.returncode != 0
    assert "is blocked" in result.stderr


def test_device_folder_alone_imports_without_tensorflow(tmp_path):
    """edge/device is what a Pi gets: copied alone, each of its modules loads with TF blocked."""
    shutil.copytree(REPO / "edge" / "device", tmp_path / "edge" / "device")
    names = sorted(p.stem for p in (tmp_path / "edge" / "device").glob("*.py"))
    code = BLOCKER + "".join(f"import edge.device.{name}\n" for name in names)
    here = str(tmp_path)
    code += f"import edge.device.runtime as r; assert r.__file__.startswith({here!r})\n"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_predicts_keras_classes_from_npy_without_tensorflow(
    interpreter, edge_dir, manifest, samples, tmp_path
):
    require(interpreter)
    np.save(tmp_path / "x.npy", samples["x"])
    keras_top1 = samples["probabilities"].argmax(axis=1)
    for name, entry in manifest["files"].items():
        result = run_without_tensorflow(
            "edge.device.predict",
            edge_dir / name,
            tmp_path / "x.npy",
            "--json",
            "--interpreter",
            interpreter,
        )
        if interpreter == "tflite_runtime" and entry["variant"] == "dynamic":
            # tflite-runtime ends at 2.14, before dynamic-range FULLY_CONNECTED v12: it must say so.
            assert result.returncode == 2 and "pip install ai-edge-litert" in result.stderr
            continue
        assert result.returncode == 0, result.stderr
        assert f"interpreter {interpreter}" in result.stderr
        output = json.loads(result.stdout)
        probabilities = np.array([row["probabilities"] for row in output["predictions"]])
        top1 = probabilities.argmax(axis=1)
        assert probabilities.shape == samples["probabilities"].shape
        # A pruned file is another model (80 % of its weights zero): held to its accuracy, and to
        # the unpruned Keras model's answers only loosely; every other file to those answers.
        agreement = 0.9 if entry["variant"].startswith("pruned") else 0.97
        assert np.mean(top1 == keras_top1) >= agreement, name
        assert np.mean(top1 == samples["y"]) >= 0.9, name
        assert [row["label"] for row in output["predictions"]] == [
            manifest["labels"][i] for i in top1
        ]
        if entry["variant"] == "float32":
            np.testing.assert_allclose(probabilities, samples["probabilities"], atol=1e-5)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_predicts_right_class_from_image_files(interpreter, edge_dir, manifest, samples, tmp_path):
    require(interpreter)
    from PIL import Image

    pixel_max = manifest["input"]["pixel_max"]
    confident = np.flatnonzero(
        (samples["probabilities"].max(axis=1) > 0.9)
        & (samples["probabilities"].argmax(axis=1) == samples["y"])
    )[:5]
    paths = []
    for i in confident:
        eight_bit = np.round(samples["x"][i, ..., 0] * 255 / pixel_max).astype(np.uint8)
        paths.append(tmp_path / f"sample{i}.png")
        Image.fromarray(eight_bit, mode="L").save(paths[-1])
    for name in ("model_float32.tflite", "model_int8.tflite"):
        result = run_without_tensorflow(
            "edge.device.predict", edge_dir / name, *paths, "--json", "--interpreter", interpreter
        )
        assert result.returncode == 0, result.stderr
        labels = [row["class_id"] for row in json.loads(result.stdout)["predictions"]]
        assert labels == samples["y"][confident].tolist(), name


def test_flipped_byte_is_refused(edge_dir, samples, tmp_path):
    copy = tmp_path / "edge"
    shutil.copytree(edge_dir, copy)
    model = copy / "model_int8.tflite"
    content = bytearray(model.read_bytes())
    content[len(content) // 2] ^= 0x01
    model.write_bytes(bytes(content))
    np.save(tmp_path / "x.npy", samples["x"][:2])

    result = run_without_tensorflow("edge.device.predict", model, tmp_path / "x.npy")
    assert result.returncode == 2
    assert "is damaged" in result.stderr and "sha256" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(EdgeError, match="sha256"):
        EdgeModel(model)
    EdgeModel(model, verify=False)  # the check, not the flip, refused it


def test_missing_manifest_is_refused_unless_unverified(edge_dir, samples, tmp_path):
    lone = tmp_path / "model_float32.tflite"
    shutil.copy(edge_dir / "model_float32.tflite", lone)
    with pytest.raises(EdgeError, match="no model.json"):
        EdgeModel(lone)
    probabilities = EdgeModel(lone, verify=False).predict(samples["x"][:3])
    np.testing.assert_allclose(probabilities, samples["probabilities"][:3], atol=1e-5)


def test_int8_io_input_and_output_use_the_files_own_parameters(edge_dir, manifest, samples):
    model = EdgeModel(edge_dir / "model_int8_io.tflite")
    specs = model.tensor_specs()
    assert specs == {
        "input": manifest["files"]["model_int8_io.tflite"]["input"],
        "output": manifest["files"]["model_int8_io.tflite"]["output"],
    }
    assert specs["input"]["dtype"] == "int8" and specs["output"]["dtype"] == "int8"
    # Outputs are dequantized softmax values: on the int8 grid of the output scale, summing to ~1.
    probabilities = model.predict(samples["x"][:20])
    steps = probabilities / specs["output"]["scale"]
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.05)


def quantize_by_the_book(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """q = clip(round(x / s) + z) into int8, rounding half to even."""
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def reference_predict(path: Path, x: np.ndarray) -> np.ndarray:
    """The int8-I/O file run by the book: the signature runner, q = clip(round(x/s) + z), (q − z)·s.

    Uses whichever TFLite interpreter the device has, as EdgeModel does (tflite_runtime on
    older Pis).
    """
    interpreter, _ = find_interpreter()
    runner = interpreter(model_path=str(path)).get_signature_runner("serving_default")
    ((name, detail),) = runner.get_input_details().items()
    (output,) = runner.get_output_details().values()
    (y,) = runner(**{name: quantize_by_the_book(x, *detail["quantization"])}).values()
    out_scale, out_zero = output["quantization"]
    return (y.astype(np.float32) - out_zero) * out_scale


def test_fast_path_matches_the_book_across_batch_sizes(edge_dir, samples):
    path = edge_dir / "model_int8_io.tflite"
    model = EdgeModel(path)
    x = samples["x"][:5].astype(np.float32)
    x[0, 0, :4, 0] = [-50.0, 1e6, 8.0, 0.5]  # out of range both ways, and pixel values on ties
    first = model.predict(x[:1])
    kept = first.copy()
    for batch in (x[:1], x[1], x[:5], x[2:3], x[:2]):
        expected = reference_predict(path, batch if batch.ndim == 4 else batch[None])
        np.testing.assert_array_equal(model.predict(batch), expected)
    np.testing.assert_array_equal(first, kept)  # a result is never a buffer reused later


def test_int8_file_takes_and_gives_float_with_int8_inside(edge_dir, samples):
    """model_int8.tflite (what devices use): float32 I/O, so predict is the bare signature call,
    and the int8 tensor behind its output has the same scale as the int8-I/O file's output."""
    path = edge_dir / "model_int8.tflite"
    model = EdgeModel(path)
    specs = model.tensor_specs()
    assert specs["input"]["dtype"] == specs["output"]["dtype"] == "float32"
    inside = model.integer_output()
    assert inside["dtype"] == "int8"
    interpreter, _ = find_interpreter()
    runner = interpreter(model_path=str(path)).get_signature_runner("serving_default")
    x = samples["x"][:3].astype(np.float32)
    (expected,) = runner(**{model.input_name: x}).values()
    np.testing.assert_array_equal(model.predict(x), expected)
    steps = expected / inside["scale"]  # dequantized inside the graph: on the int8 grid
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


@pytest.mark.parametrize("scale, zero_point", [(16 / 255, -128), (0.003921569, 0), (1.7, 5)])
def test_both_quantizing_routes_match_the_book_around_every_step(scale, zero_point):
    """Small inputs go through searchsorted, larger ones through ufuncs: both must give the
    book's q on the float32s nearest every rounding boundary (ties included), far outside the
    range, at ±0 and ±inf."""
    quantizer = Quantizer({"dtype": np.int8, "quantization": (scale, zero_point)})
    boundaries = ((np.arange(-140, 140) + 0.5 - zero_point) * scale).astype(np.float32)
    near = (boundaries.view(np.int32)[:, None] + np.arange(-8, 9, dtype=np.int32)).view(np.float32)
    rng = np.random.default_rng(0)
    wide = rng.uniform(-1, 1, 4000) * 10.0 ** rng.integers(-30, 30, 4000)
    x = np.concatenate([near.ravel(), wide, [0.0, -0.0, np.inf, -np.inf]]).astype(np.float32)
    for size in (SEARCH_MAX_VALUES, SEARCH_MAX_VALUES + 1):
        rows = np.resize(x, (-(-len(x) // size), size))
        quantize = quantizer.route((1, size))
        got = np.concatenate([quantize(row[None]).copy() for row in rows])
        np.testing.assert_array_equal(got, quantize_by_the_book(rows, scale, zero_point))


def test_bad_inputs_are_named(edge_dir, tmp_path):
    model = EdgeModel(edge_dir / "model_float32.tflite")
    with pytest.raises(EdgeError, match=r"does not fit .* raw pixels"):
        model.predict(np.zeros((2, 3, 3, 1), np.float32))
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 7)))
    with pytest.raises(EdgeError, match="bad.npy holds an array shaped"):
        model.load_inputs([bad])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(EdgeError, match="neither a .npy array nor an image"):
        model.load_inputs([text])
    with pytest.raises(EdgeError, match="interpreter 'tflite' is unknown"):
        EdgeModel(edge_dir / "model_float32.tflite", interpreter="tflite")


def test_tensorflow_fallback_fails_clearly_without_tensorflow(edge_dir, samples, tmp_path):
    np.save(tmp_path / "x.npy", samples["x"][:2])
    result = run_without_tensorflow(
        "edge.device.predict",
        edge_dir / "model_float32.tflite",
        tmp_path / "x.npy",
        "--interpreter",
        "tensorflow",
    )
    assert result.returncode == 2
    assert "no TFLite interpreter could be imported" in result.stderr
    assert "pip install ai-edge-litert" in result.stderr


@pytest.mark.slow
def test_benchmark_sweeps_threads_like_benchmark_model(edge_dir):
    """Threads 1 and 2, Interpreter and (where installed) CompiledModel, each in its own process:
    init, first call, p50 ≤ p99 and the memory the model added; the int8-I/O file has no
    CompiledModel row (it takes float-I/O files)."""
    result = run_without_tensorflow(
        "edge.device.benchmark",
        edge_dir / "model_int8.tflite",
        edge_dir / "model_int8_io.tflite",
        "--runs",
        20,
        "--warmup",
        2,
        "--threads",
        "1,2",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    apis = ["interpreter", "compiled"] if compiled_model_available() else ["interpreter"]
    expected = [("model_int8.tflite", api, n) for api in apis for n in (1, 2)]
    expected += [("model_int8_io.tflite", "interpreter", n) for n in (1, 2)]
    assert [(r["model"], r["api"], r["threads"]) for r in rows] == expected
    for row in rows:
        assert row["init_ms"] > 0 and row["first_ms"] > 0 and row["peak_mb"] >= 0
        assert 0 < row["latency"]["p50_ms"] <= row["latency"]["p99_ms"]
    table = run_without_tensorflow(
        "edge.device.benchmark",
        edge_dir / "model_float32.tflite",
        "--runs",
        5,
        "--api",
        "interpreter",
        "--num-threads",
        1,
    )
    assert "init ms" in table.stdout and "model_float32.tflite  interpreter" in table.stdout


def a_value_away_from_default(action: argparse.Action) -> list[str]:
    """The words that set `action`'s option to a value other than its default, read off the
    action itself: a switch alone, another choice, one more than a number, else a name."""
    if action.nargs == 0:
        return [action.option_strings[0]]
    if action.choices:
        value = next(choice for choice in action.choices if choice != action.default)
    elif action.type in (int, float):
        value = (action.default or 0) + 1
    else:
        value = "given-value"
    return [action.option_strings[0], str(value)]


def test_benchmark_children_get_every_option_the_parent_was_given(monkeypatch):
    """Every option of the benchmark's parser but the per-child ones, and among them every
    runtime flag `add_runtime_flags` defines, set away from its default, parses back to the
    parent's value in a child: no flag or value is listed here, so a flag added later is covered."""
    from edge.device import benchmark
    from edge.device.cli import add_runtime_flags
    from edge.device.quiet import VERBOSE_ENV

    monkeypatch.setenv(VERBOSE_ENV, "0")  # --verbose sets it for the rest of the process
    runtime = argparse.ArgumentParser(add_help=False)
    add_runtime_flags(runtime)
    options = [
        action
        for action in benchmark.make_benchmark_parser()._actions
        if action.option_strings and action.dest not in benchmark.PER_CHILD
    ]
    runtime_flags = {action.dest for action in runtime._actions}
    assert runtime_flags and runtime_flags <= {action.dest for action in options}
    words = [word for action in options for word in a_value_away_from_default(action)]
    parent = benchmark.parse_args(["a.tflite", *words])
    defaults = benchmark.parse_args(["a.tflite"])
    child = benchmark.parse_args(["b.tflite", *benchmark.shared_flags(parent)])
    for action in options:
        assert getattr(parent, action.dest) != getattr(defaults, action.dest), action.dest
        assert getattr(child, action.dest) == getattr(parent, action.dest), action.dest


def test_compiled_model_gives_the_interpreters_answers(edge_dir, samples):
    if not compiled_model_available():
        pytest.skip("this ai-edge-litert has no CompiledModel")
    path = edge_dir / "model_int8.tflite"
    compiled, interpreted = CompiledEdgeModel(path, num_threads=1), EdgeModel(path, num_threads=1)
    for x in samples["x"][:5]:
        np.testing.assert_array_equal(compiled.predict(x[None]), interpreted.predict(x[None]))


def test_predict_names_inputs_by_path_and_says_once_how_images_were_fitted(edge_dir, tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    paths = [tmp_path / folder / "01.png" for folder in ("a", "b")]
    for path in paths:
        path.parent.mkdir()
        Image.fromarray(pixels, mode="RGB").save(path)
    result = run_without_tensorflow(
        "edge.device.predict", edge_dir / "model_float32.tflite", *paths
    )
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [str(path) for path in paths]
    (note,) = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert note == (
        f"note: images fitted to the 8×8×1 input: {paths[0]}: RGB to grey, 16×16 to 8×8; "
        f"{paths[1]}: RGB to grey, 16×16 to 8×8"
    )
    again = run_without_tensorflow(
        "edge.device.predict", edge_dir / "model_float32.tflite", paths[0]
    )
    assert "note:" in again.stderr  # and a grey 8×8 image needs no note:
    Image.fromarray(pixels[:8, :8, 0], mode="L").save(tmp_path / "fits.png")
    fits = run_without_tensorflow(
        "edge.device.predict", edge_dir / "model_float32.tflite", tmp_path / "fits.png"
    )
    assert fits.returncode == 0 and "note:" not in fits.stderr

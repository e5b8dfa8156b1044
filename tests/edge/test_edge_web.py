"""The edge page (edge/web) classifies like edge.device, in headless Chromium, with the file alone.

`edge.web`'s server runs in this process on a free port of 127.0.0.1 (stopped by the fixture);
edge/web/check.mjs drives Debian's chromium through the page (?image= and the file picker) and
prints each picture's top label and score, which must be edge.device's. The browser tests need
node, chromium and `npm ci` in edge/web: `make web`, a prerequisite of `make test`, installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from colours import save_pngs

from edge.device.runtime import EdgeModel
from edge.web.__main__ import main
from edge.web.server import HERE, TASKS_VISION, make_server

CHECK = HERE / "check.mjs"
PLAYWRIGHT = HERE / "node_modules" / "playwright-core"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHECK_TIMEOUT_S = 180  # the check's own steps time out after 60 s each
PER_CLASS = 2  # pictures per class edge.device predicts: a page stuck on one label fails


def missing_for_the_page() -> str | None:
    """What the page's tests lack (`make web` installs it all), or None."""
    if not all(path.is_dir() for path in (TASKS_VISION / "wasm", PLAYWRIGHT)):
        return f"npm ci in {HERE}"
    if shutil.which("node") is None:
        return "node"
    if not CHROMIUM.is_file():
        return f"chromium at {CHROMIUM}"
    return None


def skip_without_the_page_tools() -> None:
    missing = missing_for_the_page()
    if missing:
        pytest.skip(f"needs {missing}: `make web` installs it (make test does)")


def serve(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def stop(server, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def page_server(colours_edge, tmp_path):
    """The page with the colours model's int8 file; tmp_path served at /pictures/."""
    skip_without_the_page_tools()
    out_dir, *_ = colours_edge
    server = make_server(out_dir / "model_int8.tflite", pictures=tmp_path)
    thread = serve(server)
    yield server
    stop(server, thread)


def run_check(url: str, images: list[Path]) -> dict:
    """check.mjs's JSON answer; its process group (node, chromium) killed if it overruns."""
    process = subprocess.Popen(
        ["node", str(CHECK), url, *map(str, images)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"check.mjs ran over {CHECK_TIMEOUT_S} s: {out}{err}")
    lines = out.strip().splitlines()
    assert lines, f"check.mjs printed nothing (exit {process.returncode}): {err}"
    return json.loads(lines[-1])


@pytest.mark.slow
def test_the_page_gives_edge_devices_top_1_and_score_on_each_picture(
    page_server, colours_edge, tmp_path
):
    out_dir, splits, _ = colours_edge
    edge_model = EdgeModel(out_dir / "model_int8.tflite")
    probabilities = edge_model.predict(splits.x_test)
    top = probabilities.argmax(axis=1)
    chosen = np.concatenate([np.flatnonzero(top == k)[:PER_CLASS] for k in np.unique(top)])
    assert len(chosen) > PER_CLASS, f"edge.device answers one class only: {top}"
    first, *rest = save_pngs(splits.x_test[chosen], tmp_path)  # served at /pictures/ too
    # The saved PNGs are what the page reads: edge.device's answer on them, not on the arrays.
    expected = edge_model.predict(edge_model.load_inputs([first, *rest]))

    answer = run_check(f"{page_server.url}?image=/pictures/{first.name}", rest)

    assert "error" not in answer, answer
    page_top = [t["index"] for t in answer["top"]]
    assert page_top == expected.argmax(axis=1).tolist()
    assert [t["label"] for t in answer["top"]] == [splits.class_names[i] for i in page_top]
    # The same int8 file on the same XNNPACK kernels: the same dequantized score (steps of 1/256).
    scores = [t["score"] for t in answer["top"]]
    np.testing.assert_allclose(scores, expected.max(axis=1), atol=1.5 / 256)


@pytest.mark.slow
def test_the_page_reports_a_model_it_cannot_load_in_its_marker(page_server):
    answer = run_check(f"{page_server.url}?model=missing.tflite", [])
    assert "did not load" in answer.get("error", ""), answer
    assert "404" in answer["error"]


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, "", b""


def test_the_server_serves_the_page_mediapipe_and_the_model_and_nothing_else(tmp_path):
    if not (TASKS_VISION / "wasm").is_dir():
        pytest.skip(f"needs npm ci in {HERE}: `make web` runs it (make test does)")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3 stand-in")
    server = make_server(model)
    thread = serve(server)
    try:
        wasm = TASKS_VISION / "wasm" / "vision_wasm_internal.wasm"
        assert fetch(server.url + "tasks-vision/wasm/vision_wasm_internal.wasm") == (
            200,
            "application/wasm",  # or browsers will not compile it while it streams
            wasm.read_bytes(),
        )
        assert fetch(server.url + "model.tflite")[2] == b"TFL3 stand-in"
        status, kind, page = fetch(server.url)
        assert (status, kind) == (200, "text/html; charset=utf-8") and b"classify.js" in page
        assert fetch(server.url + "classify.js")[1] == "text/javascript"
        for hidden in ["server.py", "node_modules/", "tasks-vision/../../server.py", "pictures/x"]:
            assert fetch(server.url + hidden)[0] == 404, hidden
    finally:
        stop(server, thread)
    assert server.url.startswith("http://127.0.0.1:")  # this computer only unless --host says


def test_the_command_line_names_a_missing_model_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "none.tflite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.tflite is not a file" in err

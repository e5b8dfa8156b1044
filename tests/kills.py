"""Killing a training process at a chosen point, for the exact-resume tests."""

import signal
import subprocess
import time


def kill_after(process: subprocess.Popen, marker: str, delay: float) -> str:
    """SIGKILL `process` `delay` seconds after it prints `marker`; its output until then.

    Fails the test if it finished, or stopped early, before that."""
    seen = ""
    deadline = time.monotonic() + 300
    while marker not in seen:
        line = process.stdout.readline()
        assert line, f"it ended before {marker!r}:\n{seen}"
        assert time.monotonic() < deadline, f"no {marker!r}:\n{seen}"
        seen += line
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    rest, _ = process.communicate()
    assert process.returncode == -signal.SIGKILL, f"it ended before the kill:\n{seen + rest}"
    return seen + rest

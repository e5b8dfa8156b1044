"""Serve the edge page, MediaPipe's WASM files and one `.tflite` from one origin (no CDN).

    /                   index.html
    /classify.js        the page's module
    /tasks-vision/...   node_modules/@mediapipe/tasks-vision/: the bundle and its wasm/ folder
    /model.tflite       the model given on the command line
    /pictures/...       optionally, a folder of pictures (for `?image=/pictures/NAME`)
Nothing else is served (no listings, no node_modules beyond MediaPipe's package): it may face a LAN.
"""

from __future__ import annotations

import http.server
import urllib.parse
from pathlib import Path

from edge.device.errors import EdgeError

HERE = Path(__file__).resolve().parent
TASKS_VISION = HERE / "node_modules" / "@mediapipe" / "tasks-vision"
PAGE_FILES = {"/": HERE / "index.html", "/classify.js": HERE / "classify.js"}
MODEL_URL = "/model.tflite"
FOLDERS = {"/tasks-vision/": TASKS_VISION}
PICTURES_URL = "/pictures/"
EXAMPLE_MODEL = "runs/latest/edge/model_int8.tflite"
CONTENT_TYPES = {  # .wasm as application/wasm, or browsers refuse to compile it while it streams
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".tflite": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


class PageServer(http.server.ThreadingHTTPServer):
    """An HTTP server whose routes are the page's files, MediaPipe's folder and the model."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], files: dict[str, Path], folders: dict[str, Path]):
        super().__init__(address, PageHandler)
        self.files, self.folders = files, folders
        self.log_requests = False  # the CLI logs each request; tests keep quiet

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def resolve(self, url_path: str) -> Path | None:
        """The file behind `url_path`, or None: exact routes, then files inside a routed folder."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path)
        if path in self.files:
            return self.files[path]
        for prefix, folder in self.folders.items():
            if path.startswith(prefix):
                candidate = (folder / path.removeprefix(prefix)).resolve()
                if candidate.is_file() and candidate.is_relative_to(folder.resolve()):
                    return candidate
        return None


class PageHandler(http.server.BaseHTTPRequestHandler):
    """GET only; 404 for anything not routed."""

    server: PageServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.server.resolve(self.path)
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # a new model.tflite shows on reload
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        if self.server.log_requests:
            super().log_message(format, *args)


def make_server(
    model: Path, host: str = "127.0.0.1", port: int = 0, pictures: Path | None = None
) -> PageServer:
    """A server (not yet serving) for the page with `model`; port 0 takes a free one."""
    if not model.is_file():
        raise EdgeError(f"{model} is not a file; pass a .tflite, e.g. {EXAMPLE_MODEL}")
    if not (TASKS_VISION / "wasm").is_dir():
        raise EdgeError(f"{TASKS_VISION} is missing; run `make web` (npm ci in {HERE})")
    folders = dict(FOLDERS)
    if pictures is not None:
        if not pictures.is_dir():
            raise EdgeError(f"--pictures {pictures} is not a folder")
        folders[PICTURES_URL] = pictures
    try:
        return PageServer((host, port), {**PAGE_FILES, MODEL_URL: model}, folders)
    except OSError as err:
        raise EdgeError(f"cannot serve on {host}:{port} ({err}); choose another --port") from None

"""README.md (a newcomer's page, ≤ 300 lines) and docs/ name only what exists: repository paths,
`python -m` modules, make targets and relative links (with their #anchors).

A repository path is one whose first part is a top-level folder of the repository (`tfmodel/…`,
`tests/…`, `.ci/…`); paths inside a run folder (`runs/latest/edge/…`), on a device (`~/tfmodel/…`,
`pi@host:tfmodel/…`) or of the user's (`photos/cat`) are not. CHANGELOG.md names old paths on
purpose and is not read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP_FOLDERS = (
    "tfmodel serving edge tests benchmarks device deploy hardware configs docs .ci".split()
)
PACKAGES = ("tfmodel", "serving", "edge", "benchmarks", "device", "hardware")
README_MAX_LINES = 300  # a newcomer's page; the manual is docs/

# Not after a character that makes it part of a longer path, a host (`pi@host:`) or a variable.
REPO_PATH = re.compile(
    r"(?<![\w./~:@$<>{-])((?:" + "|".join(map(re.escape, TOP_FOLDERS)) + r")/[\w./-]*)"
)
PYTHON_M = re.compile(r"\bpython3? -m ([\w.]+)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
MAKE_IN_BLOCK = re.compile(r"^\s*(?:sudo )?make ([\w-]+)", re.MULTILINE)
MAKE_INLINE = re.compile(r"`(?:sudo |[A-Z_]+=\S+ )*make ([\w-]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def repo_paths(text: str) -> set[str]:
    return {match.rstrip(".,") for match in REPO_PATH.findall(text)}


def runnable(module: str) -> bool:
    """Whether `python -m module` finds a file here: `a/b.py` or a package with `__main__.py`."""
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


def make_targets(text: str) -> set[str]:
    blocks = "\n".join(FENCE.findall(text))
    return set(MAKE_IN_BLOCK.findall(blocks)) | set(MAKE_INLINE.findall(text))


def defined_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


def dead_links(page: Path) -> list[str]:
    dead = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            dead.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            dead.append(target)
    return dead


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_repository_path_named_exists(page):
    missing = sorted(p for p in repo_paths(page.read_text()) if not (REPO / p).exists())
    assert not missing, f"{page_id(page)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_python_m_module_of_ours_exists(page):
    modules = {m.rstrip(".") for m in PYTHON_M.findall(page.read_text())}
    ours = sorted(m for m in modules if m.split(".")[0] in PACKAGES)
    missing = [m for m in ours if not runnable(m)]
    assert not missing, f"{page_id(page)} runs modules that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_make_target_named_exists(page):
    missing = sorted(make_targets(page.read_text()) - defined_targets())
    assert not missing, f"{page_id(page)} names make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_leads_somewhere(page):
    dead = dead_links(page)
    assert not dead, f"{page_id(page)} links to what does not exist: {dead}"


def test_the_readme_stays_a_newcomers_page():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"


def test_the_manual_has_its_pages():
    names = {page.name for page in PAGES}
    assert {"README.md", "training.md", "serving.md", "edge.md", "devices.md"} <= names
    assert len(names) >= 7


def test_repository_paths_are_told_from_run_device_and_user_paths():
    text = (
        "`tfmodel/foo.py`, tests/x/test_y.py. (edge/device/) `.ci/run` "
        "runs/latest/edge/model.tflite ~/tfmodel/edge/device pi@pi.local:tfmodel/edge/ "
        "photos/cats $PWD/runs/latest/export/digits_mlp /etc/tfmodel/key"
    )
    assert repo_paths(text) == {"tfmodel/foo.py", "tests/x/test_y.py", "edge/device/", ".ci/run"}


def test_old_and_current_commands_are_told_apart():
    assert runnable("edge.device.predict") and runnable("serving.client")
    assert not runnable("edge.predict") and not runnable("serving.rollout")
    found = PYTHON_M.findall(
        "python -m edge.predict x; python3 -m venv v; `python -m tfmodel.env`."
    )
    assert found == ["edge.predict", "venv", "tfmodel.env"]


def test_make_targets_are_read_from_commands_only():
    text = "```bash\nmake demo\nsudo make device-check  # x\n```\n"
    text += "then make a CA; `PYTEST_WORKERS=0 make test`"
    assert make_targets(text) == {"demo", "device-check", "test"}


def test_links_and_anchors_are_checked(tmp_path):
    (tmp_path / "a.md").write_text(
        "# A page\n## Your photos: `images:DIR`\n```\n# not a heading\n```\n"
    )
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#your-photos-imagesdir) [web](https://x.org/y) [gone](c.md) "
        "[no anchor](a.md#not-a-heading) [self](#here)\n# Here\n"
    )
    assert dead_links(page) == ["c.md", "a.md#not-a-heading"]

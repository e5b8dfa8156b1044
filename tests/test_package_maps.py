"""Every package's `__init__` docstring is its map: it names each module and subpackage inside,
and nothing that is not there.

A module is named as `name.py`, as `` `name` `` (serving's bullet style) or as the first word of an
aligned row (`name   what it does`); a subpackage as `name/`. `__init__.py` and `__main__.py` (what
`python -m PACKAGE` runs) need no line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("tfmodel", "serving", "edge", "benchmarks")
UNMAPPED = {"__init__.py", "__main__.py"}
# A map's entries: a row's first word (`- `name`:` or `name.py   what`), and any `name.py`.
ROW = re.compile(r"^\s*(?:- `(\w+)/?`:|(\w+)(?:\.py|/)?\s{2,})", re.MULTILINE)
FILE = re.compile(r"(?<![\w/.])(\w+)\.py\b")


def packages() -> list[Path]:
    """Every folder under ROOTS holding an `__init__.py` (installed npm packages left out)."""
    found = []
    for root in ROOTS:
        for init in sorted((REPO / root).rglob("__init__.py")):
            parts = init.relative_to(REPO).parts
            if not any(part == "node_modules" or part.startswith(".") for part in parts):
                found.append(init.parent)
    return found


def contents(package: Path) -> list[str]:
    """The names a map must hold: `name.py` for modules, `name/` for subpackages."""
    modules = [p.name for p in package.glob("*.py") if p.name not in UNMAPPED]
    subpackages = [p.name + "/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(modules + subpackages)


def is_named(entry: str, docstring: str) -> bool:
    stem = re.escape(entry.removesuffix(".py").removesuffix("/"))
    if entry.endswith("/"):
        pattern = rf"(?<![\w/.]){stem}/"
    else:
        pattern = rf"(?<![\w/.]){stem}\.py\b|`{stem}`|^\s*{stem}\s{{2,}}"
    return re.search(pattern, docstring, flags=re.MULTILINE) is not None


def entries(docstring: str) -> set[str]:
    """The names a map lists as its own: rows' first words and every `name.py`."""
    rows = {bullet or word for bullet, word in ROW.findall(docstring)}
    return rows | set(FILE.findall(docstring))


def docstring_of(package: Path) -> str:
    return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""


@pytest.mark.parametrize("package", packages(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_package_docstring_names_every_module(package):
    docstring = docstring_of(package)
    missing = [entry for entry in contents(package) if not is_named(entry, docstring)]
    where = package.relative_to(REPO) / "__init__.py"
    assert not missing, f"{where}'s docstring does not name {missing}: add a line for each"


@pytest.mark.parametrize("package", packages(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_package_docstring_lists_only_what_is_there(package):
    present = {Path(entry).stem.removesuffix("/") for entry in contents(package)} | {"__main__"}
    listed = entries(docstring_of(package))
    where = package.relative_to(REPO) / "__init__.py"
    assert listed <= present, f"{where} lists {sorted(listed - present)}, which are not in it"


def test_every_top_level_package_is_checked():
    checked = {p.relative_to(REPO).as_posix() for p in packages()}
    assert {"tfmodel", "serving/server/core", "edge/device", "benchmarks"} <= checked


def test_a_module_named_only_inside_another_path_does_not_count():
    assert not is_named("rollout.py", "`serving/server/rollout.py`: canary labels")
    assert not is_named("rollout.py", "see serving.server.rollout")
    assert is_named("rollout.py", "- `rollout`: canary labels")
    assert is_named("optimizers.py", "regularizers.py, optimizers.py   kernel L1/L2")
    assert is_named("core/", "- `core/`: the core")
    assert is_named("results.py", "results          the machine line")


def test_the_rows_a_map_lists_are_read_as_entries():
    docstring = "Top to bottom:\n- `rollout`: canary\n    train.py       the command\nrun   all\n"
    assert entries(docstring) == {"rollout", "train", "run"}

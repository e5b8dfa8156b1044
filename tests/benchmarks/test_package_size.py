"""benchmarks/ stays small and says no conclusions: at most MAX_LINES lines of Python and
MAX_PROSE characters of prose in string literals.

Prose is any string literal (an f-string counts its literal parts) of four words or more that is
not a docstring: docstrings say what the code does and how it measures; sentences a benchmark
prints about what its figures mean (a goal missed, a CPU's features) are prose. Why a goal is
missed is written by a person into results.json's notes after a run, never kept in a module.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "benchmarks"
MAX_LINES, MAX_PROSE = 1800, 6000


def docstrings(tree: ast.Module) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds) and ast.get_docstring(node, clean=False) is not None
    }


def string_literals(tree: ast.Module) -> list[str]:
    """Every string literal but the docstrings; an f-string as its literal parts joined."""
    skip, found = docstrings(tree), []
    for node in ast.walk(tree):  # breadth first: an f-string is met before its parts
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
            found.append("".join(p.value for p in node.values if isinstance(p, ast.Constant)))
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            found.append(node.value)
    return found


def prose_characters(source: str) -> int:
    return sum(len(s) for s in string_literals(ast.parse(source)) if len(s.split()) >= 4)


def test_prose_counts_sentences_not_docstrings_or_labels():
    source = (
        '"""A docstring of many words."""\nX = ["p50 ms", "a b c d"]\nY = f"it ran {n} s here"\n'
    )
    assert prose_characters(source) == len("a b c d") + len("it ran  s here")


def test_benchmarks_stay_within_their_size():
    sources = [path.read_text() for path in sorted(PACKAGE.glob("*.py"))]
    lines = sum(len(source.splitlines()) for source in sources)
    prose = sum(prose_characters(source) for source in sources)
    assert lines <= MAX_LINES, f"benchmarks/ has {lines} lines of Python, over {MAX_LINES}"
    assert prose <= MAX_PROSE, f"benchmarks/ has {prose} characters of prose, over {MAX_PROSE}"

"""The key/value table a command prints when it finishes (train, tune, export, publish, env)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def format_rows(rows: Mapping[str, str] | Iterable[tuple[str, str]], title: str = "") -> str:
    """Two aligned columns, keys then values; with a title, between rules under it."""
    pairs = list(rows.items() if isinstance(rows, Mapping) else rows)
    width = max(len(key) for key, _ in pairs)
    lines = [f"{key:<{width}}  {value}".rstrip() for key, value in pairs]
    if not title:
        return "\n".join(lines)
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([title, rule, *lines, rule])

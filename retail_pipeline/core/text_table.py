"""Frames as aligned text tables for people at a terminal (the ``run`` summary, ``quarantine``, ``sql``).

Written here rather than by polars' printer: its options are set through ``pl.Config``, which writes process
environment variables, and writing the environment while native threads read it crashes the process (see
``core/preview.py``). Only the rows shown are formatted, a few dozen at most.
"""

from __future__ import annotations

import polars as pl

NULL = "null"


def _format(value: object, dtype: pl.DataType, decimals: int, width: int) -> str:
    if value is None:
        return NULL
    if dtype.is_float():
        return f"{value:,.{decimals}f}"
    if dtype.is_integer():
        return f"{value:,}"
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def text_table(frame: pl.DataFrame, max_rows: int | None = None, decimals: int = 2, width: int = 60) -> str:
    """The first ``max_rows`` rows (all when None) under a header, numbers right-aligned with thousands
    separators and ``decimals`` places for floats, text cut at ``width`` characters."""
    shown = frame if max_rows is None else frame.head(max_rows)
    columns = [
        (name, dtype, [_format(v, dtype, decimals, width) for v in shown[name].to_list()])
        for name, dtype in frame.schema.items()
    ]
    widths = [max([len(name), *(len(cell) for cell in cells)]) for name, _, cells in columns]
    numeric = [dtype.is_numeric() for _, dtype, _ in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line([name for name, _, _ in columns]), "  ".join("-" * w for w in widths)]
    out += [line([cells[i] for _, _, cells in columns]) for i in range(shown.height)]
    return "\n".join(out)

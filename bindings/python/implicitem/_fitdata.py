"""Reading a user's CSV for the command line, with messages that say what is wrong where."""

from __future__ import annotations

import csv
import math
import os
from typing import List, Optional, Tuple

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be fitted: the message names the file, line and column."""


def _number(cell: str) -> Optional[float]:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value


def read_csv(path: str, min_rows: int = 1) -> Tuple[np.ndarray, List[str]]:
    """Rows of numbers from a CSV (comma, semicolon or tab separated; blank lines skipped).

    A first line with no numeric cell is taken as a header. Returns the (N, D) array and
    the column names. Raises DataFileError for a missing or unreadable file, a non-numeric
    or non-finite cell, a ragged row, or fewer than ``min_rows`` rows.
    """
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a directory, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path}: cannot be read ({error})") from None
    lines = text.splitlines()
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows: List[List[float]] = []
    header: List[str] = []
    width = None
    for number, fields in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        cells = [cell.strip() for cell in fields]
        if not cells or all(cell == "" for cell in cells):
            continue
        values = [_number(cell) for cell in cells]
        if not rows and not header and all(value is None for value in values):
            header = cells
            width = len(cells)
            continue
        if width is None:
            width = len(cells)
        if len(cells) != width:
            raise DataFileError(f"{path}, line {number}: {len(cells)} columns, but the rows "
                                f"before it have {width} (ragged rows)")
        for column, (cell, value) in enumerate(zip(cells, values), start=1):
            if value is None:
                raise DataFileError(f"{path}, line {number}, column {column}: {cell!r} is not "
                                    f"a number")
            if not math.isfinite(value):
                raise DataFileError(f"{path}, line {number}, column {column}: {cell!r} is not "
                                    f"finite")
        rows.append([float(v) for v in values])  # type: ignore[arg-type]
    if not rows:
        raise DataFileError(f"{path}: no rows of numbers")
    if len(rows) < min_rows:
        raise DataFileError(f"{path}: {len(rows)} rows, fewer than the {min_rows} components "
                            f"asked for (-k)")
    names = header if header else [f"x{i}" for i in range(width or 0)]
    return np.asarray(rows, dtype=np.float64), names

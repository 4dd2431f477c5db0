"""The smoke sample drawn from a CSV file with the csv module and numpy, without pandas.

The PR stage must not wait for pandas to import before training can start
(issue 14), so the sample file is written here. It holds exactly the rows that
``DataFrame.sample(n=rows, random_state=seed)`` picks (pandas draws them with
``numpy.random.RandomState(seed).choice(len, rows, replace=False)``), in their
original order, and each field as the text it had in the source file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

CSV_SUFFIXES = (".csv",)


class SampleError(ValueError):
    """The data file cannot be sampled; the message says what to fix."""


def _records(reader: Iterator[list[str]]) -> list[str] | None:
    for row in reader:
        if row:  # pandas skips blank lines; so do we
            return row
    return None


def sample_indices(total: int, rows: int, seed: int) -> list[int]:
    """The positions ``DataFrame.sample(n=rows, random_state=seed)`` takes from ``total`` rows, sorted."""
    if total <= rows:
        return list(range(total))
    import numpy as np

    picked = np.random.RandomState(seed).choice(total, size=rows, replace=False)
    return sorted(int(i) for i in picked)


def write_csv_sample(source: Path, dest: Path, rows: int, seed: int) -> int:
    """Write the deterministic ``rows``-row sample of the CSV ``source`` to ``dest``; return its row count.

    Two passes over the file (count, then copy the picked rows), so memory stays
    at one row whatever the file's size.
    """
    if not source.is_file():
        raise FileNotFoundError(f"training data {source} does not exist; set [tool.mlgates.training] data "
                                f"to a CSV or Parquet file")
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = _records(reader)
        if header is None:
            raise SampleError(f"training data {source} is empty; it needs a header row and data rows")
        total = sum(1 for row in reader if row)
    keep = sample_indices(total, rows, seed)
    with source.open(newline="", encoding="utf-8-sig") as handle, dest.open("w", newline="", encoding="utf-8") as out:
        reader = csv.reader(handle)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_records(reader) or [])
        wanted = iter(keep)
        target = next(wanted, None)
        position = 0
        for row in reader:
            if not row:
                continue
            if position == target:
                writer.writerow(row)
                target = next(wanted, None)
                if target is None:
                    break
            position += 1
    return len(keep)

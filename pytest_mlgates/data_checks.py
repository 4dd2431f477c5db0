"""Checking a local training data file before it reaches the training script.

Why: a wrong file (empty, a header only, binary, a folder, without the target
column) otherwise fails deep inside the user's script, or worse trains on
nothing, and the message names neither the file nor the setting. Only the
first bytes are read, with the standard library.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

HEAD_BYTES = 64 * 1024


class DataError(ValueError):
    """The training data file cannot be what the training script needs; the message says which setting to fix."""


def check_training_data(path: Path, setting: str = "[tool.mlgates.training] data", target: str = "") -> None:
    """Raise DataError naming ``path``, the problem and ``setting`` when the file cannot be training data."""
    where = f"training data {path} (from {setting})"
    if not path.exists():
        raise DataError(f"{where} does not exist; set {setting} to a CSV or Parquet file")
    if path.is_dir():
        raise DataError(f"{where} is a folder, not a file; set {setting} to a CSV or Parquet file")
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise DataError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if not head:
        raise DataError(f"{where} is empty (zero bytes); point {setting} at the file with your rows")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        if not head.startswith(b"PAR1"):
            raise DataError(f"{where} is named .parquet but is not a Parquet file; convert it or rename it")
        return
    if b"\0" in head:
        raise DataError(f"{where} is not text (it holds binary data); a {suffix or 'data'} file must be CSV text, "
                        f"or name a Parquet file .parquet")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) == HEAD_BYTES and exc.start > HEAD_BYTES - 4:
            text = head[:exc.start].decode("utf-8")  # a character cut at the end of the sample
        else:
            raise DataError(f"{where} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise DataError(f"{where} has a header but no rows; the training script would train on nothing")
    if target:
        header = next(csv.reader(io.StringIO(lines[0])))
        if target not in [h.strip() for h in header]:
            raise DataError(f"{where} has no column {target!r} (its columns: {', '.join(header)}); set "
                            f"[tool.mlgates.training] target to the column the model predicts")

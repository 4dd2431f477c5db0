"""The local model registry: SQLite for entries, a content-addressed artifact store.

Every write is one ``BEGIN IMMEDIATE`` transaction, so concurrent runs queue on
SQLite's lock (with a generous busy timeout) instead of failing, and an
interrupted run leaves either a whole entry or none. Artifacts are copied into
``artifacts/<sha256>/`` before the entry that points at them is committed, and
their digest is verified again whenever they are loaded. The champion is an
alias row moved by compare-and-swap; the history table keeps every move.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...contract import digest_dir
from ...records import ConflictError, IntegrityError, ModelVersion, NotFoundError, StateError
from ...state_files import damaged

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    artifact_uri TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    metrics TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS history (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
"""

CHAMPION = "champion"


class LocalRegistry:
    """Model versions of every model name under one state folder."""

    def __init__(self, state_dir: Path, busy_timeout: float = 60.0) -> None:
        self.state_dir = Path(state_dir)
        self.artifacts = self.state_dir / "artifacts"
        self.path = self.state_dir / "registry.sqlite"
        self.busy_timeout = busy_timeout
        if self.state_dir.exists() and not self.state_dir.is_dir():
            raise StateError(f"the state folder {self.state_dir} is a file, not a folder; point --mlgates-state-dir "
                             f"(or MLGATES_STATE_DIR, [tool.mlgates] state_dir) at a folder, or move the file away")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_not_damaged()
        if not self.path.exists():
            self._create()
        with contextlib.closing(self._connect()) as db:
            try:
                db.executescript(SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise damaged(self.path, f"is not a usable SQLite database ({exc})", "the model registry") from None

    def _create(self) -> None:
        """Build a new registry beside its final name and link it in whole, so no run ever sees it half made
        (a zero-byte registry is damage, not a registry being created by a concurrent run)."""
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".registry-", suffix=".sqlite")
        os.close(fd)
        try:
            with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another run created it first
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(tmp + suffix).unlink(missing_ok=True)

    def _check_not_damaged(self) -> None:
        """A registry that exists but is empty or unreadable, or is gone while artifacts remain, is an error."""
        if self.path.is_dir():
            raise damaged(self.path, "is a folder, not a database file", "the model registry")
        if self.path.exists():
            if self.path.stat().st_size == 0:
                raise damaged(self.path, "is empty (zero bytes)", "the model registry")
            try:
                with self.path.open("rb") as fh:
                    header = fh.read(16)
            except OSError as exc:
                raise damaged(self.path, f"cannot be read ({exc.strerror})", "the model registry") from None
            if header != b"SQLite format 3\x00":
                raise damaged(self.path, "is not an SQLite database (wrong header)", "the model registry")
        elif self.artifacts.is_dir() and any(p for p in self.artifacts.iterdir() if not p.name.startswith(".")):
            raise damaged(self.path, f"is missing, but {self.artifacts} still holds registered artifacts",
                          "the model registry")

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, f"cannot be opened ({exc})", "the model registry") from None
        db.row_factory = sqlite3.Row
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise StateError(
                    f"the model registry {self.path} has been locked by another process for over "
                    f"{self.busy_timeout:g} s; wait for the other mlgates run to end (or stop it: "
                    f"fuser {self.path}) and run again") from None
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # -- artifacts ----------------------------------------------------------
    def store_artifact(self, model_dir: Path) -> tuple[str, str]:
        """Copy a model folder into the store; return (sha256, uri)."""
        digest = digest_dir(model_dir)
        target = self.artifacts / digest
        if not target.exists():
            self.artifacts.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.artifacts, prefix=".incoming-"))
            try:
                shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
            except (OSError, shutil.Error) as exc:  # disk full, an unreadable or special file: no partial copy stays
                shutil.rmtree(tmp, ignore_errors=True)
                raise StateError(f"could not copy the model folder {model_dir} into the artifact store "
                                 f"{self.artifacts}: {str(exc)[:300]}; free disk space or remove what cannot be "
                                 f"copied from the model folder, then run again") from None
            try:
                tmp.rename(target)
            except OSError:  # another run stored the same content first
                shutil.rmtree(tmp, ignore_errors=True)
        return digest, target.as_uri()

    def artifact_path(self, model: ModelVersion) -> Path:
        """The verified artifact folder of a version (raises IntegrityError on mismatch)."""
        path = self.artifacts / model.sha256
        if not path.is_dir():
            raise IntegrityError(f"artifact of {model.id} is missing from {self.artifacts}")
        actual = digest_dir(path)
        if actual != model.sha256:
            raise IntegrityError(
                f"artifact of {model.id} at {path} has sha256 {actual}, but the registry recorded "
                f"{model.sha256}; it was changed after registration. Re-run training to register a new version."
            )
        return path

    # -- entries ------------------------------------------------------------
    def _row_to_version(self, db: sqlite3.Connection, row: sqlite3.Row) -> ModelVersion:
        champ = db.execute(
            "SELECT version FROM aliases WHERE name=? AND alias=?", (row["name"], CHAMPION)
        ).fetchone()
        return ModelVersion(
            name=row["name"],
            version=str(row["version"]),
            artifact_uri=row["artifact_uri"],
            sha256=row["sha256"],
            metrics=json.loads(row["metrics"]),
            tags=json.loads(row["tags"]),
            is_champion=champ is not None and champ["version"] == row["version"],
            created_at=row["created_at"],
        )

    @staticmethod
    def _version_int(version: str) -> int:
        try:
            return int(str(version))
        except ValueError:
            raise NotFoundError(f"model version {version!r} is not a local version number (1, 2, ...)") from None

    def register(
        self, name: str, model_dir: Path, metrics: Mapping[str, Any], tags: Mapping[str, str]
    ) -> ModelVersion:
        digest, uri = self.store_artifact(model_dir)
        with self._transaction() as db:
            (last,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM versions WHERE name=?", (name,)).fetchone()
            version = last + 1
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, version, uri, digest, json.dumps(dict(metrics)), json.dumps(dict(tags)), time.time()),
            )
            db.execute("INSERT INTO history VALUES (?, ?, 'registered', ?, ?)", (name, version, "", time.time()))
            row = db.execute("SELECT * FROM versions WHERE name=? AND version=?", (name, version)).fetchone()
            return self._row_to_version(db, row)

    def get(self, name: str, version: str) -> ModelVersion:
        with contextlib.closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM versions WHERE name=? AND version=?", (name, self._version_int(version))
            ).fetchone()
            if row is None:
                raise NotFoundError(f"model {name!r} has no version {version!r} in {self.path}")
            return self._row_to_version(db, row)

    def list(self, name: str) -> list[ModelVersion]:
        with contextlib.closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM versions WHERE name=? ORDER BY version", (name,)).fetchall()
            return [self._row_to_version(db, r) for r in rows]

    def champion(self, name: str) -> ModelVersion | None:
        with contextlib.closing(self._connect()) as db:
            row = db.execute(
                "SELECT v.* FROM versions v JOIN aliases a ON a.name=v.name AND a.version=v.version "
                "WHERE a.name=? AND a.alias=?",
                (name, CHAMPION),
            ).fetchone()
            return None if row is None else self._row_to_version(db, row)

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        number = self._version_int(version)
        with self._transaction() as db:
            row = db.execute("SELECT * FROM versions WHERE name=? AND version=?", (name, number)).fetchone()
            if row is None:
                raise NotFoundError(f"model {name!r} has no version {version!r} in {self.path}")
            return self._merge_tags(db, name, number, tags)

    def _merge_tags(self, db: sqlite3.Connection, name: str, number: int, tags: Mapping[str, str]) -> ModelVersion:
        row = db.execute("SELECT tags FROM versions WHERE name=? AND version=?", (name, number)).fetchone()
        merged = {**json.loads(row["tags"]), **{k: str(v) for k, v in tags.items()}}
        db.execute("UPDATE versions SET tags=? WHERE name=? AND version=?", (json.dumps(merged), name, number))
        row = db.execute("SELECT * FROM versions WHERE name=? AND version=?", (name, number)).fetchone()
        return self._row_to_version(db, row)

    def promote(
        self, name: str, version: str, expected: str | None, tags: Mapping[str, str] | None = None
    ) -> ModelVersion:
        number = self._version_int(version)
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM versions WHERE name=? AND version=?", (name, number)).fetchone() is None:
                raise NotFoundError(f"model {name!r} has no version {version!r} in {self.path}")
            current = db.execute(
                "SELECT version FROM aliases WHERE name=? AND alias=?", (name, CHAMPION)
            ).fetchone()
            current_version = None if current is None else str(current["version"])
            if current_version == str(number) and current_version != (None if expected is None else str(expected)):
                raise ConflictError(
                    f"cannot promote {name}:{version}: another run promoted this same version first, so it is "
                    f"already the champion; nothing is left to do (this run changed nothing)")
            if current_version != (None if expected is None else str(expected)):
                raise ConflictError(
                    f"cannot promote {name}:{version}: the champion is now "
                    f"{current_version or 'none'}, not {expected or 'none'} as the gate compared against; "
                    f"a newer champion exists, so run the champion gate again against it"
                )
            db.execute(
                "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (name, CHAMPION, number)
            )
            db.execute(
                "INSERT INTO history VALUES (?, ?, 'promoted', ?, ?)",
                (name, number, json.dumps({"replaced": current_version}), time.time()),
            )
            return self._merge_tags(db, name, number, tags or {})

    def history(self, name: str) -> list[dict[str, Any]]:
        with contextlib.closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM history WHERE name=? ORDER BY rowid", (name,)).fetchall()
            return [dict(r) for r in rows]

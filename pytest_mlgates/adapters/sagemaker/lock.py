"""The promotion lock: an S3 object written with conditional puts, so two CI runners cannot both promote."""

from __future__ import annotations

import json
import os
import time
import uuid

from ...records import (
    AdapterError,
    ConflictError,
    NotFoundError,
)
from .client import _PreconditionFailed
from .storage import StorageMixin


class _Lock:
    """A held registry lock (an S3 object we created)."""

    def __init__(self, key: str, etag: str) -> None:
        self.key, self.etag = key, etag



class LockMixin(StorageMixin):
    """Take and release the registry lock of a model."""

    # -- the registry lock ------------------------------------------------------------
    def _lock_key(self, model_name: str) -> str:
        return self.config.key("registry", self.group_name(model_name), "registry.lock")

    def _registry_lock(self, model_name: str) -> _LockContext:
        return _LockContext(self, model_name)

    def _acquire(self, model_name: str) -> _Lock:
        """Create the lock object with If-None-Match: *, so exactly one writer holds it."""
        key = self._lock_key(model_name)
        deadline = self._clock() + self.config.lock_timeout_seconds
        holder = ""
        while True:
            body = json.dumps({"owner": uuid.uuid4().hex, "at": time.time(), "pid": os.getpid(),
                               "host": os.uname().nodename if hasattr(os, "uname") else ""}).encode()
            try:
                response = self._put(key, body, f"registry lock of {model_name!r}", IfNoneMatch="*")
                return _Lock(key, response.get("ETag", ""))
            except _PreconditionFailed:
                pass
            holder, etag, age = self._lock_state(key)
            if etag and age > self.config.lock_ttl_seconds:
                try:  # take over a lock left by a crashed run; If-Match makes only one taker win
                    response = self._put(key, body, f"registry lock of {model_name!r}", IfMatch=etag)
                    return _Lock(key, response.get("ETag", ""))
                except _PreconditionFailed:
                    pass
            if self._clock() >= deadline:
                raise ConflictError(
                    f"another run holds the registry lock of {model_name!r} (s3://{self.config.bucket}/{key}, "
                    f"{holder}) and did not release it within {self.config.lock_timeout_seconds:g} s; retry when "
                    f"it finishes. A lock older than lock_ttl_seconds ({self.config.lock_ttl_seconds:g} s) is "
                    f"taken over automatically"
                )
            self._sleep(min(0.2, max(0.0, deadline - self._clock())) or 0.05)

    def _lock_state(self, key: str) -> tuple[str, str, float]:
        """(description of the holder, ETag, age in seconds) of the lock object."""
        try:
            obj = self._call("s3", "get_object", "registry lock", Bucket=self.config.bucket, Key=key)
            data = json.loads(obj["Body"].read() or b"{}")
        except NotFoundError:
            return "released", "", 0.0
        except (ValueError, AdapterError):
            return "unreadable", "", 0.0
        at = float(data.get("at", 0) or 0)
        return (f"held by pid {data.get('pid')} on {data.get('host') or 'unknown host'} "
                f"for {max(0.0, time.time() - at):.0f} s"), str(obj.get("ETag", "")), time.time() - at

    def _release(self, lock: _Lock) -> None:
        try:
            self._call("s3", "delete_object", "registry lock", Bucket=self.config.bucket, Key=lock.key)
        except NotFoundError:
            pass


class _LockContext:
    def __init__(self, adapter: LockMixin, model_name: str) -> None:
        self.adapter, self.model_name = adapter, model_name
        self.lock: _Lock | None = None

    def __enter__(self) -> _Lock:
        self.lock = self.adapter._acquire(self.model_name)
        return self.lock

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.adapter._release(self.lock)

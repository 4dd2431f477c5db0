"""Object-store URIs, one rule for every cloud: ``s3://`` (SageMaker) and ``gs://`` (Vertex AI).

Why one module: the SageMaker and Vertex AI adapters both keep their files
under a configured ``<scheme>://bucket[/prefix]`` and check, split and build
such URIs the same way; only the scheme and its bucket naming rule differ.
Imports no SDK (the settings modules use it).
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = ["BUCKET_RULES", "PrefixedStore", "is_prefix_uri", "join_key", "make_uri", "split_uri"]

BUCKET_RULES: dict[str, re.Pattern[str]] = {
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "gs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"),
}
"""Bucket names each scheme accepts (3-63 characters; S3 without ``_``)."""


def split_uri(uri: str, scheme: str) -> tuple[str, str]:
    """(bucket, key) of ``<scheme>://bucket/key``; the key is "" without one. ValueError for another scheme."""
    head = f"{scheme}://"
    if not uri.startswith(head):
        raise ValueError(f"not a {head} URI: {uri!r}")
    bucket, _, key = uri[len(head):].partition("/")
    return bucket, key


def join_key(*parts: str) -> str:
    """An object key of the parts, without empty parts or doubled slashes."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def make_uri(scheme: str, bucket: str, *parts: str) -> str:
    """``<scheme>://bucket/<parts joined>``."""
    return f"{scheme}://{bucket}/{join_key(*parts)}"


def is_prefix_uri(uri: str, scheme: str) -> bool:
    """Whether ``uri`` is ``<scheme>://<bucket>[/<prefix>]`` with a bucket name the scheme accepts."""
    try:
        bucket, _ = split_uri(uri, scheme)
    except ValueError:
        return False
    return bool(BUCKET_RULES[scheme].fullmatch(bucket))


class PrefixedStore:
    """Mixin for a settings dataclass whose field ``_store_setting`` is a ``<_store_scheme>://bucket/prefix``:
    its bucket, prefix, and the keys and URIs under it."""

    _store_scheme: ClassVar[str]
    _store_setting: ClassVar[str]

    def _store(self) -> tuple[str, str]:
        return split_uri(getattr(self, self._store_setting), self._store_scheme)

    @property
    def bucket(self) -> str:
        return self._store()[0]

    @property
    def prefix(self) -> str:
        return self._store()[1].strip("/")

    def key(self, *parts: str) -> str:
        """An object key under the configured prefix."""
        return join_key(self.prefix, *parts)

    def uri(self, *parts: str) -> str:
        """The URI of an object under the configured prefix."""
        return make_uri(self._store_scheme, self.bucket, self.prefix, *parts)

"""How a model version's gate data is stored on a SageMaker model package.

SageMaker keeps free-form key/value data of a model package version in
``CustomerMetadataProperties`` (tags on a package *version* are not usable:
SageMaker allows them only on the group). That map is strict: at most 50
entries, keys of 1-128 and values of 1-256 characters drawn from letters,
digits, spaces and ``_.:/=+-@``. Gate tags are arbitrary strings (a JSON
snippet, an empty value, a comma), so values that do not fit are stored
base64-encoded behind a marker prefix and decoded on the way back; keys that do
not fit are refused with a message naming them.

This module also reads a ``model.tar.gz`` in one streaming pass: the
``metrics.json`` inside it and a content digest that is byte-for-byte the one
``contract.digest_dir`` computes for the extracted folder, so a model has the
same sha256 on every platform. It imports no AWS SDK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import tarfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from ...contract import FINGERPRINT_KEY, METRICS_FILE, digest_files, metrics_from_text  # noqa: F401 - training uses it

MAX_ENTRIES = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
_EXTRA_CHARS = frozenset("_.:/=+-@")

#: Keys under this prefix belong to the adapter; users' tags may not use it.
RESERVED_PREFIX = "mlgates.sm."
METRIC_PREFIX = RESERVED_PREFIX + "metric."
KEY_SHA256 = RESERVED_PREFIX + "sha256"
KEY_CHAMPION = RESERVED_PREFIX + "champion"
KEY_GENERATION = RESERVED_PREFIX + "generation"
KEY_REPLACED_BY = RESERVED_PREFIX + "replaced_by"
KEY_CREATED = RESERVED_PREFIX + "created"
ENCODED_MARKER = "mlgates.b64:"


class MetadataError(ValueError):
    """Tags or metrics that cannot be stored in CustomerMetadataProperties."""


def _allowed_char(char: str) -> bool:
    return char.isalnum() or char in _EXTRA_CHARS or unicodedata.category(char) == "Zs"


def fits(text: str, limit: int) -> bool:
    """Whether ``text`` is a legal CustomerMetadataProperties key or value as is."""
    return 1 <= len(text) <= limit and all(_allowed_char(c) for c in text)


def check_key(key: str) -> str:
    if not fits(key, MAX_KEY_CHARS):
        raise MetadataError(
            f"cannot store key {key!r} on a SageMaker model package: keys must be 1-{MAX_KEY_CHARS} "
            f"characters of letters, digits, spaces and {''.join(sorted(_EXTRA_CHARS))}; rename the tag or metric"
        )
    return key


def encode_value(key: str, value: str) -> str:
    """``value`` as stored: itself when it fits, else base64 behind a marker."""
    value = str(value)
    if fits(value, MAX_VALUE_CHARS) and not value.startswith(ENCODED_MARKER):
        return value
    encoded = ENCODED_MARKER + base64.b64encode(value.encode("utf-8")).decode("ascii")
    if len(encoded) > MAX_VALUE_CHARS:
        raise MetadataError(
            f"the value of {key!r} is too long to store on a SageMaker model package ({len(value)} characters, "
            f"{len(encoded)} once encoded; the limit is {MAX_VALUE_CHARS}); store a short value such as a URI "
            f"or a digest instead"
        )
    return encoded


def decode_value(value: str) -> str:
    if value.startswith(ENCODED_MARKER):
        try:
            return base64.b64decode(value[len(ENCODED_MARKER):], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return value  # edited by hand into something else; hand it back untouched
    return value


def encode_metric(name: str, value: Any) -> tuple[str, str]:
    key = check_key(METRIC_PREFIX + name)
    if isinstance(value, str):
        return key, encode_value(key, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MetadataError(f"metric {name!r} must be a finite number to be registered, got {value!r}")
    return key, repr(float(value))


def decode_metric(name: str, text: str) -> Any:
    """A stored metric back as a float (the fingerprint stays a string).

    A value that is not a number is handed back as the string it is, so the
    champion gate sees it and fails closed instead of the adapter guessing.
    """
    text = decode_value(text)
    if name == FINGERPRINT_KEY:
        return text
    try:
        return float(text)
    except ValueError:
        return text


def check_user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Validate user/gate tags: string keys outside the reserved prefix."""
    clean: dict[str, str] = {}
    for key, value in tags.items():
        key = str(key)
        if key.startswith(RESERVED_PREFIX):
            raise MetadataError(
                f"tag {key!r} uses the prefix {RESERVED_PREFIX!r}, which the SageMaker adapter reserves for "
                f"its own bookkeeping (metrics, digest, champion mark); choose another name"
            )
        check_key(key)
        clean[key] = str(value)
    return clean


def encode_properties(
    internal: Mapping[str, str], metrics: Mapping[str, Any], tags: Mapping[str, str]
) -> dict[str, str]:
    """The full CustomerMetadataProperties map of one version."""
    props: dict[str, str] = {}
    for key, value in internal.items():
        props[check_key(key)] = encode_value(key, value)
    for name, value in metrics.items():
        key, stored = encode_metric(name, value)
        props[key] = stored
    for key, value in check_user_tags(tags).items():
        props[key] = encode_value(key, value)
    if len(props) > MAX_ENTRIES:
        raise MetadataError(
            f"a SageMaker model package holds at most {MAX_ENTRIES} metadata entries, and this version would "
            f"need {len(props)} ({len(metrics)} metrics, {len(tags)} tags, {len(internal)} for the adapter); "
            f"write fewer metrics into metrics.json or fewer custom tags"
        )
    return props


@dataclass
class DecodedProperties:
    internal: dict[str, str]
    metrics: dict[str, Any]
    tags: dict[str, str]


def decode_properties(props: Mapping[str, str] | None) -> DecodedProperties:
    internal: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for key, value in (props or {}).items():
        if key.startswith(METRIC_PREFIX):
            name = key[len(METRIC_PREFIX):]
            metrics[name] = decode_metric(name, value)
        elif key.startswith(RESERVED_PREFIX):
            internal[key] = decode_value(value)
        else:
            tags[key] = decode_value(value)
    return DecodedProperties(internal, metrics, tags)


# -- model.tar.gz --------------------------------------------------------------
@dataclass
class ArtifactSummary:
    """What one pass over a model.tar.gz found."""

    sha256: str
    metrics_text: str | None
    files: list[str]


def _member_path(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def summarize_tar(stream: IO[bytes]) -> ArtifactSummary:
    """Digest a gzipped tar stream the way ``contract.digest_dir`` digests a folder.

    One forward pass (``r|gz``), so an S3 body is read once and never held in
    memory whole; ``metrics.json`` at the top level is kept as text.
    """
    entries: list[tuple[str, str]] = []
    metrics_text: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                path = _member_path(member.name)
                fh = tar.extractfile(member)
                assert fh is not None
                inner = hashlib.sha256()
                keep = path == METRICS_FILE
                chunks: list[bytes] = []
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    inner.update(chunk)
                    if keep:
                        chunks.append(chunk)
                if keep:
                    metrics_text = b"".join(chunks).decode("utf-8", errors="replace")
                entries.append((path, inner.hexdigest()))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise MetadataError(f"the model artifact is not a readable .tar.gz ({exc})") from exc
    return ArtifactSummary(digest_files(entries), metrics_text, sorted(p for p, _ in entries))

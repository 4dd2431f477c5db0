"""Vertex AI's naming rules, applied deterministically before anything is sent.

Label keys and values, resource IDs and aliases each have their own alphabet
on Vertex; a name that breaks them is made valid the same way every time (so a
later run finds the same resource), and shortened with a digest suffix when
too long, never sent as is. Imports no Google SDK.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

MAX_LABELS = 64
MAX_LABEL_CHARS = 63
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_RESOURCE_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_MODEL_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def _fit(clean: str, original: str, limit: int) -> str:
    """``clean`` if it is the original and short enough, else cut with a digest of the original."""
    if clean == original and len(clean) <= limit:
        return clean
    return f"{clean[: limit - 9].rstrip('-_')}-{_digest(original)}" if clean else _digest(original)


def _valid(text: str, rule: re.Pattern[str], bad: str, strip: str, prefix: str | None) -> str:
    """``text`` when it obeys ``rule``; else lowercased, runs of ``bad`` characters turned into ``-``,
    given ``prefix`` when it does not start with a letter, and fitted to 63 characters."""
    text = str(text)
    if rule.match(text):
        return text
    clean = re.sub(bad, "-", text.lower()).strip(strip)
    if prefix is not None and (not clean or not clean[0].isalpha()):
        clean = prefix + clean
    return _fit(clean, text, MAX_LABEL_CHARS)


def label_value(text: str) -> str:
    """A valid label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _valid(text, _LABEL_VALUE_RE, r"[^a-z0-9_-]+", "-", None)


def label_key(text: str) -> str:
    """A valid label key: like a value, but starting with a lowercase letter and never empty."""
    return _valid(text, _LABEL_KEY_RE, r"[^a-z0-9_-]+", "-_", "k-")


def labels(pairs: Mapping[str, str]) -> dict[str, str]:
    """Valid labels from any pairs; more than Vertex's 64 is an error that says which."""
    out = {label_key(k): label_value(v) for k, v in pairs.items()}
    if len(out) > MAX_LABELS:
        raise ValueError(f"a Vertex AI resource holds at most {MAX_LABELS} labels, these are {len(out)}: "
                         f"remove some of [tool.mlgates.vertex] labels")
    return out


def resource_id(text: str) -> str:
    """An endpoint ID: a lowercase letter first, letters, digits and ``-``, at most 63 characters."""
    return _valid(text, _RESOURCE_ID_RE, r"[^a-z0-9]+", "-", "e-")


def model_id(model_name: str) -> str:
    """The Model Registry ID of a model name: lowercase letters, digits, ``_``, ``-``, a letter first."""
    return _valid(model_name, _MODEL_ID_RE, r"[^a-z0-9_-]+", "-_", "m-")


__all__ = ["MAX_LABELS", "label_key", "label_value", "labels", "model_id", "resource_id"]

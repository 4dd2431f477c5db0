"""Azure ML resource names: endpoint and deployment names follow Azure's rules or are shortened.

Managed online endpoint and deployment names are 3-32 characters, a letter
first, then letters, digits and single dashes (the SDK lowercases deployment
names). A name that fits is kept as is (lowercased); one that does not, such as
``<model>-staging-<token>`` of a long model name, is cut and given an 8-character
digest of the requested name, so the result is deterministic, unique per
requested name and traceable (the requested name is also put in a tag).
Shortening a shortened name returns it unchanged.
"""

from __future__ import annotations

import hashlib
import re

MIN_CHARS = 3
MAX_CHARS = 32
_VALID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
REQUESTED_NAME_TAG = "mlgates.requested-name"


def is_valid_name(name: str) -> bool:
    return MIN_CHARS <= len(name) <= MAX_CHARS and bool(_VALID.match(name))


def azure_name(requested: str) -> str:
    """The Azure name of an endpoint or deployment requested as ``requested``."""
    lowered = requested.strip().lower()
    if is_valid_name(lowered):
        return lowered
    base = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    if not base[:1].isalpha():
        base = ("m-" + base).strip("-")
    digest = hashlib.sha256(requested.encode("utf-8")).hexdigest()[:8]
    head = base[: MAX_CHARS - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}" if head else f"m-{digest}"

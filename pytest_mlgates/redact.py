"""Redacting a secret in every form it can take in a message: raw, URL-encoded, base64, JSON- or repr-escaped...

Why: an error message may carry a secret (a webhook URL holds its token) not
only as typed but as a library re-encoded it: percent-encoded in a redirect,
base64 inside an ``Authorization`` header or a data URL, escaped inside a JSON
body or a ``repr``. A scrubber that knows only the raw text leaks the rest.
Only the standard library is used.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "<redacted>"
MIN_FORM = 6
"""Shorter forms are not redacted (they would match ordinary text)."""


def _b64_fragments(data: bytes) -> set[str]:
    """The base64 characters that depend only on ``data``, wherever it sits in a larger encoded blob.

    base64 packs 3 bytes into 4 characters, so ``data`` encodes differently at
    each of three alignments; the characters fully inside it are the same for
    any neighbouring bytes, so each alignment gives one stable fragment.
    """
    out: set[str] = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + data).decode()
            first, last = math.ceil(8 * offset / 6), (8 * (offset + len(data))) // 6
            out.add(text[first:last])
            if offset == 0:
                out.add(text)
                out.add(text.rstrip("="))
    return out


def secret_forms(secret: str) -> list[str]:
    """Every encoded form of ``secret`` worth redacting, longest first."""
    if not secret:
        return []
    data = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret), quote(secret, safe=""), quote_plus(secret), quote_plus(secret, safe=""),
        quote(quote(secret, safe=""), safe=""),
        json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1], ascii(secret)[1:-1], repr(data)[2:-1],
        html.escape(secret), html.escape(secret, quote=False),
        data.hex(),
        secret.encode("unicode_escape").decode("ascii"),
    }
    forms |= _b64_fragments(data)
    forms |= {json.dumps(f)[1:-1] for f in list(forms)}  # an encoded form inside a JSON string
    return sorted((f for f in forms if len(f) >= MIN_FORM), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``<redacted>`` (case-insensitively)."""
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    if not forms:
        return text
    pattern = re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)
    return pattern.sub(REDACTED, text)

"""SageMaker runtime's ``POST /endpoints/<name>/invocations`` as the real one guards it: SigV4 or 403.

``verify_sigv4`` recomputes a request's signature with botocore's own signer
(``SigV4Auth``) from the secret the test knows, over exactly the headers the
request says it signed, and compares; ``RuntimeFake`` is WSGI middleware in
front of moto's server that refuses what fails it with 403 (SageMaker's
``InvalidSignatureException`` / ``MissingAuthenticationTokenException``),
and answers the rest as an endpoint would: a production variant picked at
random by the live weights on moto's backend, ``{"predictions": [...]}`` from
``predictor``, and that variant named in ``X-Amzn-Invoked-Production-Variant``.
Every request it judged is kept in ``seen``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hmac
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([a-z0-9;\-]+), Signature=([0-9a-f]{64})$")
MAX_SKEW = datetime.timedelta(minutes=15)  # SageMaker refuses a signature dated further from its clock


def verify_sigv4(method: str, url: str, headers: Mapping[str, str], body: bytes, keys: Mapping[str, str],
                 region: str, service: str = "sagemaker") -> str:
    """Why the request's SigV4 signature is not valid for ``service`` in ``region`` ("" when it is).

    ``keys``: access key id -> secret key, the identities the server knows. ``headers`` as received.
    """
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    if not auth:
        return "MissingAuthenticationToken: the request has no Authorization header"
    match = _AUTH.match(auth)
    if match is None:
        return f"IncompleteSignature: the Authorization header is not SigV4: {auth[:40]!r}"
    key_id, day, scope_region, scope_service, signed, signature = match.groups()
    if key_id not in keys:
        return f"UnrecognizedClient: unknown access key {key_id}"
    if (scope_region, scope_service) != (region, service):
        return f"InvalidSignature: credential scope {scope_region}/{scope_service}, not {region}/{service}"
    stamp = lower.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return f"IncompleteSignature: no valid X-Amz-Date ({stamp!r})"
    if stamp[:8] != day or abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_SKEW:
        return f"InvalidSignature: the signature's date {stamp} is not now"
    names = signed.split(";")
    if "host" not in names or any(n not in lower for n in names):
        return f"InvalidSignature: SignedHeaders {signed} name a header the request lacks, or not host"
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                             headers={n: lower[n] for n in names})
    request.context["timestamp"] = stamp
    signer = botocore.auth.SigV4Auth(botocore.credentials.ReadOnlyCredentials(key_id, keys[key_id], None),
                                     service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signature):
        return ("InvalidSignature: The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method.")
    return ""


@dataclasses.dataclass
class Invocation:
    endpoint: str
    headers: dict[str, str]
    body: bytes
    status: int
    variant: str
    refusal: str


def _predict_doubles(variant: str, instances: list[Any]) -> list[Any]:
    return [2.0 * float(next(iter(row.values())) if isinstance(row, dict) else row[0]) for row in instances]


class RuntimeFake:
    """WSGI middleware: SigV4-checked invocations answered by variant weight; everything else to ``app``."""

    PATH = re.compile(r"^/endpoints/([A-Za-z0-9-]+)/invocations$")

    def __init__(self, app: Any, keys: Mapping[str, str], region: str,
                 weights: Callable[[str], Mapping[str, float]],
                 predictor: Callable[[str, list[Any]], list[Any]] = _predict_doubles) -> None:
        self.app, self.keys, self.region, self.weights, self.predictor = app, dict(keys), region, weights, predictor
        self.seen: list[Invocation] = []
        self.lock = threading.Lock()
        self._random = random.Random(7)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        match = self.PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ["REQUEST_METHOD"] != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        query = environ.get("QUERY_STRING", "")
        url = f"{environ.get('wsgi.url_scheme', 'http')}://{headers.get('host', '')}{environ['PATH_INFO']}" + \
            (f"?{query}" if query else "")
        name = match.group(1)
        refusal = verify_sigv4("POST", url, headers, body, self.keys, self.region)
        if refusal:
            return self._answer(start_response, Invocation(name, headers, body, 403, "", refusal), 403,
                                {"message": refusal.split(": ", 1)[1]}, refusal.split(":", 1)[0] + "Exception")
        weights = {k: float(v) for k, v in self.weights(name).items() if float(v) > 0}
        pinned = headers.get("x-amzn-sagemaker-target-variant")
        with self.lock:
            variant = pinned or (self._random.choices(list(weights), list(weights.values()))[0] if weights else "")
        if not variant:
            return self._answer(start_response, Invocation(name, headers, body, 400, "", "no variant"), 400,
                                {"message": f"Endpoint {name} has no variant taking traffic"}, "ValidationError")
        try:
            predictions = self.predictor(variant, json.loads(body)["instances"])
        except Exception as exc:  # the model server failed: SageMaker's ModelError, naming no variant
            return self._answer(start_response, Invocation(name, headers, body, 424, "", str(exc)), 424,
                                {"message": f"Received server error (500) from model: {exc}"}, "ModelError")
        return self._answer(start_response, Invocation(name, headers, body, 200, variant, ""), 200,
                            {"predictions": predictions}, "", variant)

    def _answer(self, start_response: Any, seen: Invocation, status: int, payload: Mapping[str, Any],
                error: str, variant: str = "") -> list[bytes]:
        with self.lock:
            self.seen.append(seen)
        data = json.dumps(payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if error:
            headers.append(("x-amzn-ErrorType", error))
        if variant:
            headers.append(("X-Amzn-Invoked-Production-Variant", variant))
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", headers)
        return [data]

    def invocations(self, since: int = 0) -> list[Invocation]:
        with self.lock:
            return list(self.seen[since:])

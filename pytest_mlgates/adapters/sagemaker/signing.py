"""SigV4 signatures for plain-HTTP load on SageMaker runtime, made by botocore's own signer.

Why: runtime.sagemaker refuses any request that is not signed with AWS
Signature Version 4 for the service ``sagemaker``, and the signature covers
the request's time and body, so the load generator signs each request itself
(:mod:`pytest_mlgates.loadtest.signing` says how the signer reaches locust).
The credentials are the adapter's boto3 session's, frozen when a round of
load starts; they are never printed (``repr`` shows the service and region only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...loadtest.signing import RequestSigner

SERVICE = "sagemaker"
"""The signing name of SageMaker runtime (boto3's ``sagemaker-runtime`` signs as ``sagemaker``)."""


class SigV4Signer(RequestSigner):
    """Signs each request with SigV4 (``botocore.auth.SigV4Auth``) for ``service`` in ``region``."""

    def __init__(self, region: str, access_key: str, secret_key: str, token: str | None = None,
                 service: str = SERVICE) -> None:
        import botocore.auth
        import botocore.credentials

        self.region, self.service = region, service
        self._auth = botocore.auth.SigV4Auth(
            botocore.credentials.ReadOnlyCredentials(access_key, secret_key, token or None), service, region)

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """Authorization, X-Amz-Date (and X-Amz-Security-Token with a session token) for this very request."""
        import botocore.awsrequest

        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        wanted = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
        return {name: request.headers[name] for name in wanted if name in request.headers}

    def spec(self) -> dict[str, Any]:
        return {"region": self.region, "service": self.service}

    def secrets(self) -> dict[str, str]:
        creds = self._auth.credentials
        found = {"ACCESS_KEY_ID": creds.access_key, "SECRET_ACCESS_KEY": creds.secret_key}
        if creds.token:
            found["SESSION_TOKEN"] = creds.token
        return found

    @classmethod
    def restore(cls, spec: Mapping[str, Any], secrets: Mapping[str, str]) -> SigV4Signer:
        missing = [k for k in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY") if not secrets.get(k)]
        if missing:
            raise ValueError(f"the SigV4 signer reached the load process without {', '.join(missing)}; "
                             f"its credentials travel in its environment (MLGATES_SIGNER_*)")
        return cls(str(spec["region"]), secrets["ACCESS_KEY_ID"], secrets["SECRET_ACCESS_KEY"],
                   secrets.get("SESSION_TOKEN"), str(spec.get("service") or SERVICE))

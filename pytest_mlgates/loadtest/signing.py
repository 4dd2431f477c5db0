"""Load requests that each need their own signature, and how a signer reaches the locust process.

Why: a bearer token can travel as a fixed header, but an AWS SigV4 signature
covers each request's date and body, so every request locust sends must be
signed where it is sent, in the locust process (and each of its workers).

A signer crosses that process boundary in two parts:

- its public ``spec`` (service, region: nothing secret) goes into the run's
  config file next to the payloads;
- its ``secrets`` (the credentials) go only into the environment of the
  locust process, under ``MLGATES_SIGNER_*`` names, never into a file or onto
  the command line. The locustfile rebuilds the signer at import (before
  locust forks its workers, which inherit it) and removes those variables
  from its environment at once.

Nothing here imports locust or a cloud SDK.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["SECRET_ENV_PREFIX", "RequestSigner", "restore_signer", "signer_config"]

SECRET_ENV_PREFIX = "MLGATES_SIGNER_"
"""The environment variables of the locust process that carry a signer's secrets (and nothing else)."""


class RequestSigner(abc.ABC):
    """Signs one plain-HTTP load request; a subclass holds its credentials and never prints them."""

    @abc.abstractmethod
    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The headers to add to this request (``url`` is the full URL, ``headers`` those it is sent with)."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """What rebuilds the signer apart from its secrets: JSON, nothing secret (it is written to a file)."""

    @abc.abstractmethod
    def secrets(self) -> dict[str, str]:
        """The secret parts, by short name (upper case letters, digits and _), for the locust process's environment."""

    @classmethod
    @abc.abstractmethod
    def restore(cls, spec: Mapping[str, Any], secrets: Mapping[str, str]) -> RequestSigner:
        """The signer again, from :meth:`spec` and :meth:`secrets`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec()!r})"  # never the secrets


def signer_config(signer: RequestSigner) -> tuple[dict[str, Any], dict[str, str]]:
    """(the config entry naming the signer's class and spec, the environment variables carrying its secrets)."""
    cls = type(signer)
    entry = {"class": f"{cls.__module__}:{cls.__qualname__}", "spec": signer.spec()}
    env = {}
    for name, value in signer.secrets().items():
        if not name.replace("_", "").isalnum() or name.upper() != name:
            raise ValueError(f"secret name {name!r} of {cls.__qualname__} must be upper case letters, digits and _")
        env[SECRET_ENV_PREFIX + name] = value
    return entry, env


def restore_signer(entry: Mapping[str, Any] | None, environ: MutableMapping[str, str]) -> RequestSigner | None:
    """The signer of a config entry, its secrets taken out of ``environ`` (and removed from it); None without one."""
    secrets = {k[len(SECRET_ENV_PREFIX):]: environ.pop(k) for k in list(environ) if k.startswith(SECRET_ENV_PREFIX)}
    if not entry:
        return None
    module, _, qualname = str(entry["class"]).partition(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, RequestSigner)):
        raise TypeError(f"{entry['class']} is not a RequestSigner")
    return cls.restore(entry.get("spec") or {}, secrets)

"""Azurite, the official Azure Storage emulator, run for the test session.

``make install`` puts a pinned Azurite into ``.ci-tools/node_modules`` (npm);
this module starts its blob service with node directly on a free port with
in-memory persistence, reads the port from its start-up line and stops it
(the whole process) when the session ends.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / ".ci-tools" / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "azureml-blobstore"
_LISTENING = re.compile(r"listens on (https?://127\.0\.0\.1:(\d+))")


def _die_with_parent() -> None:
    """Linux: Azurite gets SIGTERM when the test process dies, even by SIGKILL, so it never outlives the run."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class AzuriteMissing(RuntimeError):
    """Azurite is not installed where ``make install`` puts it."""


class Azurite:
    """A running Azurite blob service; ``url`` is ``http://127.0.0.1:P/devstoreaccount1``."""

    def __init__(self, timeout: float = 30.0) -> None:
        node = shutil.which("node")
        if node is None or not MAIN.is_file():
            raise AzuriteMissing(f"Azurite is not installed at {MAIN} (or node is missing); run `make install`, "
                                 f"which installs it with npm into .ci-tools/")
        self.proc = subprocess.Popen(
            [node, str(MAIN), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--silent",
             "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.close()
            raise RuntimeError(f"Azurite did not start within {timeout:g} s")
        self.base = found[0]
        self.url = f"{self.base}/{ACCOUNT}"
        from azure.storage.blob import BlobServiceClient

        self.service = BlobServiceClient(self.url, credential={"account_name": ACCOUNT, "account_key": KEY})
        self.service.create_container(CONTAINER)

    def container_sas(self) -> str:
        """A container SAS token good for an hour (what the management API hands out for uploads)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(ACCOUNT, CONTAINER, account_key=KEY,
                                      permission=ContainerSasPermissions(read=True, write=True, list=True,
                                                                         create=True, add=True),
                                      expiry=_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=1))

    def container(self, name: str = CONTAINER):  # type: ignore[no-untyped-def]
        return self.service.get_container_client(name)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

"""Runs one local training job and records how it ended.

Started as ``python -m pytest_mlgates.adapters.local.runner JOB_DIR -- CMD...``
as the leader of a new process group, so that cancelling the job kills the
script and everything it spawned, and so that the exit status is on disk even
when the pytest process that submitted the job has gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    command = argv[argv.index("--") + 1 :]
    with (job_dir / "output.log").open("ab") as log:
        try:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
            returncode = proc.wait()
        except OSError as exc:
            log.write(f"could not start {command[:2]}: {exc}\n".encode())
            returncode = 127
    status = {"returncode": returncode, "ended_at": time.time()}
    tmp = job_dir / ".exit.json.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, job_dir / "exit.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

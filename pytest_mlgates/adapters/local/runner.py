"""Runs one local training job, records how it ended, and leaves nothing running.

Started as ``python -m pytest_mlgates.adapters.local.runner JOB_DIR [--watch-pid PID] -- CMD...``
as the leader of a new process group, so that cancelling the job kills the
script and everything it spawned, and so that the exit status is on disk even
when the pytest process that submitted the job has gone.

Nothing outlives the job: the runner is a subreaper (Linux), so children that
left the script's process group or session are re-parented to it, and when
the script ends (or is cancelled) it stops every process below it, in its
group and in its session. The job is cancelled when the run that submitted it
ends abnormally: the submitter (``--watch-pid``) died without cancelling it
(SIGTERM, kill -9, a crash), or the job's state folder was deleted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ...procs import become_subreaper, kill_descendants, pid_alive

POLL_SECONDS = 0.25
EXIT_CANCELLED = -15


class _Stop(Exception):
    """SIGTERM (a cancel): stop the script and everything it started."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop()


def abandoned(job_dir: Path, watch_pid: int | None) -> str | None:
    """Why nobody is waiting for this job any more, or None while somebody is."""
    if not (job_dir / "model").is_dir():
        return f"its state folder {job_dir} was deleted"
    if watch_pid is not None and not pid_alive(watch_pid):
        return f"the run that submitted it (pid {watch_pid}) ended without waiting for it"
    return None


def _note(job_dir: Path, text: str) -> None:
    try:
        with (job_dir / "output.log").open("ab") as log:
            log.write(f"\n[mlgates] {text}\n".encode())
    except OSError:
        pass


def main(argv: list[str]) -> int:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    job_dir = Path(options[0])
    watch_pid = int(options[options.index("--watch-pid") + 1]) if "--watch-pid" in options else None
    become_subreaper()
    signal.signal(signal.SIGTERM, _on_sigterm)
    returncode: int | None = None
    reason = ""
    try:
        with (job_dir / "output.log").open("ab") as log:
            try:
                proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
            except OSError as exc:
                log.write(f"could not start {command[:2]}: {exc}\n".encode())
                returncode = 127
            else:
                while returncode is None:
                    try:
                        returncode = proc.wait(timeout=POLL_SECONDS)
                    except subprocess.TimeoutExpired:
                        why = abandoned(job_dir, watch_pid)
                        if why:
                            reason = f"cancelled: {why}"
                            returncode = EXIT_CANCELLED
    except _Stop:
        reason, returncode = "cancelled", EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not stop the clean-up
        left = kill_descendants()
    if reason:
        _note(job_dir, f"{reason}; stopped {len(left)} process(es) it had started")
        if "deleted" not in reason:
            try:
                (job_dir / "cancelled").write_text(str(time.time()))
            except OSError:
                pass
    elif left:
        _note(job_dir, f"the training script exited; stopped {len(left)} process(es) it left running")
    status = {"returncode": returncode, "ended_at": time.time(), "stopped": len(left)}
    try:
        tmp = job_dir / ".exit.json.tmp"
        tmp.write_text(json.dumps(status))
        os.replace(tmp, job_dir / "exit.json")
    except OSError:
        pass  # the state folder is gone: nobody is left to read it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

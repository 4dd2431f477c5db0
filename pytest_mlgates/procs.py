"""Process helpers shared by the local platform's jobs and endpoints."""

from __future__ import annotations

import os
import signal
import sys
import time


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): kill(0) is all we know
        return True


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (Linux PR_SET_CHILD_SUBREAPER); whether it worked.

    Why: a training script's child that starts its own session (``setsid``,
    a daemon's double fork) leaves the script's process group, and without a
    subreaper it is re-parented to init when its parent exits, out of reach.
    Under a subreaper it is re-parented to us, so we can still find and stop it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


PR_SET_CHILD_SUBREAPER = 36


def _proc_stats() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgid, sid) of every live (non-zombie) process, from /proc; empty without /proc."""
    stats: dict[int, tuple[int, int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return stats
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            stats[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return stats


def descendants(root: int | None = None) -> list[int]:
    """Live processes below ``root`` (default: this one), plus any left in its process group or session."""
    root = os.getpid() if root is None else root
    stats = _proc_stats()
    mine = stats.get(root)
    found: set[int] = set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in stats.items():
            if ppid == parent and pid not in found and pid != root:
                found.add(pid)
                frontier.append(pid)
    if mine is not None:
        _, pgid, sid = mine
        found |= {pid for pid, (_, g, s) in stats.items() if pid != root and (g == pgid or s == sid)}
    return sorted(found)


def reap_children() -> None:
    """Collect every exited child of this process, so none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(grace: float = 2.0, root: int | None = None) -> list[int]:
    """SIGTERM everything below ``root`` (and in its group and session), SIGKILL what is left after ``grace``.

    Repeats until nothing is left, so a process that forks while dying is
    caught too. Returns the pids that were signalled.
    """
    signalled: set[int] = set()
    deadline = time.monotonic() + grace
    sig = signal.SIGTERM
    while True:
        if root is None:
            reap_children()
        alive = descendants(root)
        if not alive:
            return sorted(signalled)
        if time.monotonic() >= deadline:
            sig = signal.SIGKILL
        for pid in alive:
            if sig == signal.SIGKILL or pid not in signalled:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            signalled.add(pid)
        time.sleep(0.05)
        if sig == signal.SIGKILL and time.monotonic() > deadline + 5.0:
            return sorted(signalled)  # unkillable (uninterruptible sleep): give up rather than hang

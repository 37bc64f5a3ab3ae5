"""Run a job so that it dies with its worker: `python lifeline.py FD USER CMD...`.

The os driver starts each job in a process group of its own (one signal reaches the whole
tree). That also means nothing ends the job when the worker itself is killed, and the build
would then run twice: once here, orphaned, and again on the worker that reclaims it. So the
job runs under this small supervisor, which holds the read end of a pipe whose write end
only the worker holds. When the worker dies, however abruptly, the kernel closes that end;
the supervisor reads end-of-file and kills the job's process group, itself included.

The supervisor keeps the worker's user; the job runs as the build user (USER is `UID:GID`,
or `-` for the worker's own user), with no supplementary groups. So the job can neither
signal nor inspect its supervisor, while the supervisor can always kill the job's group.

The supervisor ignores SIGTERM and SIGINT (they are for the job: a job that ignores them is
still there until the worker's SIGKILL) and exits as its job did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any


def _watch(fd: int) -> None:
    """Block until the worker's end of the pipe closes, then end the whole group."""
    while True:
        try:
            data = os.read(fd, 64)
        except InterruptedError:
            continue
        except OSError:
            break
        if not data:
            break
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: lifeline FD USER COMMAND [ARG...]", file=sys.stderr)
        return 2
    fd, user = int(argv[0]), argv[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    switch: dict[str, Any] = {}
    if user != "-":
        uid, gid = (int(part) for part in user.split(":"))
        switch = {"user": uid, "group": gid, "extra_groups": []}
    # The job gets the default dispositions back (and not the pipe: Popen closes it).
    job = subprocess.Popen(  # noqa: S603 - the worker's own command line
        argv[2:], restore_signals=True, preexec_fn=_default_signals, **switch
    )
    threading.Thread(target=_watch, args=(fd,), daemon=True).start()
    status = job.wait()
    if status < 0:  # killed by a signal: end the same way, so the worker sees it
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


def _default_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

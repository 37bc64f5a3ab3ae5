"""Read or write one file with the build user's rights: `python user_files.py get|put ...`.

The os driver places objects and keys and collects artifacts through this helper, so that
a job's files are reached exactly as the job could reach them: an artifact the build user
may not read is not collected, and a symlink a job planted cannot make the worker write
where the build user may not. The helper starts as the worker's user and drops to the
build user (`UID:GID`; `-` stays) before it touches the path; it needs only the standard
library and runs isolated (`-I -S`).

    get SPEC PATH        write `+` then the file's bytes to stdout
    put SPEC PATH MODE   write stdin to PATH (parents made), then set MODE (octal)

Exit status 0: done; 2: no such regular file; 1: another error (one line on stderr).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys

CHUNK = 64 * 1024
NOT_FOUND = 2
FAILED = 1


def become(spec: str) -> None:
    if spec == "-":
        return
    uid, gid = (int(part) for part in spec.split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def get(path: str) -> int:
    # O_NONBLOCK: opening a FIFO a build left behind must not hang the worker.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return _fail(NOT_FOUND, f"{path}: no such file")
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return _fail(NOT_FOUND, f"{path} is not a regular file")
        os.set_blocking(fd, True)
        out = sys.stdout.buffer
        out.write(b"+")
        shutil.copyfileobj(f, out, CHUNK)
        out.flush()
    return 0


def put(path: str, mode: int) -> int:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, mode), "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, CHUNK)
        os.fchmod(out.fileno(), mode)
    return 0


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "get":
            become(argv[1])
            return get(argv[2])
        if len(argv) == 4 and argv[0] == "put":
            become(argv[1])
            return put(argv[2], int(argv[3], 8))
    except OSError as exc:
        return _fail(FAILED, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    return _fail(FAILED, "usage: user_files get SPEC PATH | put SPEC PATH MODE")


def _fail(status: int, message: str) -> int:
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

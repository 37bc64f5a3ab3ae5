"""The `ssh` driver: jobs run on the host named by the manifest's `address`, over SSH.

The worker connects with paramiko as the configured user (`MARID_SSH_USER`, default
`root`) with the configured key (`MARID_SSH_KEY`; without one, the worker user's SSH agent
and default keys), and checks the host key by `MARID_SSH_HOST_KEY_POLICY`:

- `reject` (default): the host must already be in the known-hosts file;
- `accept-new`: an unknown host's key is added to the file on first use, and a changed key
  is still refused (trust on first use);
- `ignore`: any key is accepted and none is recorded (only for throwaway test hosts).

The known-hosts file is `MARID_SSH_KNOWN_HOSTS` (default `~/.ssh/known_hosts` of the
worker's user). Each build gets a fresh private directory on the host (`mktemp -d`) with
its workspace, HOME and TMPDIR, removed when the build ends. Each job runs in the process
group sshd gives the session; stopping a job signals that group and closes the channel,
and a job whose worker died is killed on the host when its session ends (`WRAPPER`).
The build runs with the remote user's rights on that host: the host is the sandbox.
"""

from __future__ import annotations

import posixpath
import shlex
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import paramiko

from infrastructure.drivers.base import (
    IDLE_TICK,
    KILL_GRACE,
    Cancel,
    DirectoryDriver,
    DriverError,
    Log,
    OnOutput,
)

CHUNK = 32 * 1024
KEEPALIVE = 15  # seconds between keepalive messages on an idle connection
EXEC_TIMEOUT = 60.0  # seconds for the driver's own short commands (mktemp, kill, rm)
PREFETCH_REQUESTS = 16  # SFTP reads in flight when copying a file off the host
DRAIN_LIMIT = 1.0
POLICIES = ("reject", "accept-new", "ignore")
# One job: record the session's process group id (the shell's pid: sshd makes each session
# a process group of its own), start from a clean environment, load the build's variables,
# run the script as a child, then end whatever it left running in the group.
# The lifeline (as the os driver's, infrastructure/drivers/lifeline.py): a watcher reads the
# session's stdin, which only the worker's end of the channel writes to; when the worker
# dies, however abruptly, sshd closes the session and the watcher, reading end-of-file,
# kills the whole group. The job itself reads /dev/null.
WRAPPER = (
    "exec 3<&0 </dev/null; { cat <&3 >/dev/null 2>&1; kill -KILL 0; } & exec 3<&-; "
    '. "$0" && rm -f "$0" && /bin/sh "$1"; s=$?; trap "" TERM; kill -TERM 0 2>/dev/null; exit "$s"'
)
_known_hosts_lock = threading.Lock()  # accept-new writes the known-hosts file


@dataclass(frozen=True)
class SshOptions:
    """The worker's side of SSH: who it connects as and how it trusts hosts."""

    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    host_key_policy: str = "reject"
    connect_timeout: float = 30.0


def parse_address(address: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address; port 22 by default."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not host:
        raise DriverError(f"bad ssh address {address!r}")
    if not port:
        return host, 22
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise DriverError(f"bad port in ssh address {address!r}")
    return host, int(port)


class _AcceptAny(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]  # untyped base
    """`ignore`: accept an unknown key without recording it."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        return None


class SshDriver(DirectoryDriver):
    name = "ssh"

    def __init__(self, config: Mapping[str, str], options: SshOptions) -> None:
        super().__init__()
        # Djinn's worker reads `addr` although its docs and validation say `address`.
        self.address = config.get("address") or config.get("addr") or ""
        self.options = options
        self._client: Any = None
        self._sftp: Any = None

    def create(self, log: Log) -> None:
        host, port = parse_address(self.address)
        log("Running with ssh driver...")
        log(f"Connecting to {host}:{port} as {self.options.user}...")
        self._client = self._connect(host, port)
        status, out = self._exec(
            'r=$(mktemp -d "${TMPDIR:-/tmp}/marid-build.XXXXXXXX") && cd "$r" && '
            'chmod 700 . && mkdir workspace home tmp scripts && echo "$r"'
        )
        if status != 0 or not out.strip():
            raise DriverError(f"cannot make a build directory on {host}: {out.strip()}")
        self._root = out.strip().splitlines()[-1]
        self._sftp = self._client.open_sftp()
        log(f"Created workspace {self.workspace} on {host}")

    def _connect(self, host: str, port: int) -> Any:
        opts = self.options
        client = paramiko.SSHClient()
        try:
            self._trust(client)
            with _known_hosts_lock if opts.host_key_policy == "accept-new" else nullcontext():
                client.connect(
                    hostname=host,
                    port=port,
                    username=opts.user,
                    key_filename=opts.key,
                    look_for_keys=opts.key is None,
                    allow_agent=opts.key is None,
                    timeout=opts.connect_timeout,
                    banner_timeout=opts.connect_timeout,
                    auth_timeout=opts.connect_timeout,
                )
        except paramiko.BadHostKeyException:
            client.close()
            raise DriverError(f"host key of {host}:{port} does not match the known one") from None
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            raise DriverError(f"cannot connect to {host}:{port}: {exc}") from None
        # A host or network that dies silently must show up as an error, not a hang.
        client.get_transport().set_keepalive(KEEPALIVE)
        return client

    def _trust(self, client: Any) -> None:
        opts = self.options
        if opts.host_key_policy == "ignore":
            client.set_missing_host_key_policy(_AcceptAny())
            return
        path = Path(opts.known_hosts or "~/.ssh/known_hosts").expanduser()
        if opts.host_key_policy == "accept-new":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600, exist_ok=True)
            client.load_host_keys(str(path))  # AutoAddPolicy saves new keys back to it
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return
        if path.exists():
            client.get_host_keys().load(str(path))  # read only: never written back
        client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def _exec(self, command: str) -> tuple[int, str]:
        """Run a short command of the driver's own; its status and combined output."""
        try:
            channel = self._client.get_transport().open_session(timeout=EXEC_TIMEOUT)
        except (paramiko.SSHException, OSError) as exc:
            raise DriverError(f"cannot open a session on {self.address}: {exc}") from None
        try:
            channel.set_combine_stderr(True)
            channel.settimeout(EXEC_TIMEOUT)
            channel.exec_command(command)
            out = b"".join(iter(lambda: channel.recv(CHUNK), b""))
            return int(channel.recv_exit_status()), out.decode("utf-8", "replace")
        except (paramiko.SSHException, OSError) as exc:  # socket.timeout is an OSError
            raise DriverError(f"command on {self.address} failed: {exc}") from None
        finally:
            channel.close()

    def resolve(self, path: str) -> str:
        # The host is the build's machine: absolute paths anywhere on it are allowed.
        return posixpath.normpath(posixpath.join(self.workspace, path))

    def put_file(self, path: str, data: BinaryIO, mode: int = 0o644) -> None:
        target = self.resolve(path)
        status, out = self._exec(f"mkdir -p -- {shlex.quote(posixpath.dirname(target))}")
        if status != 0:
            raise DriverError(f"cannot write {path}: {out.strip()}")
        try:
            self._sftp.putfo(data, target, confirm=False)
            self._sftp.chmod(target, mode)
        except OSError as exc:
            raise DriverError(f"cannot write {path}: {exc.strerror or exc}") from None

    def get_file(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        return self._read(self.resolve(path))

    @contextmanager
    def _read(self, path: str) -> Iterator[Iterator[bytes]]:
        attrs = self._sftp.stat(path)  # FileNotFoundError when missing
        if not stat.S_ISREG(attrs.st_mode or 0):
            raise FileNotFoundError(f"{path} is not a regular file")
        with self._sftp.open(path, "rb") as f:
            # Bounded read-ahead: prefetched data is held in memory until it is read.
            f.prefetch(attrs.st_size, max_concurrent_requests=PREFETCH_REQUESTS)
            yield iter(lambda: bytes(f.read(CHUNK)), b"")

    def run(self, script: str, env: Mapping[str, str], on_output: OnOutput, cancel: Cancel) -> int:
        base = self.next_script()
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        self._write(f"{base}.env", exports, 0o600)
        self._write(f"{base}.sh", script, 0o700)
        command = (
            f"echo $$ > {shlex.quote(base)}.pid && cd {shlex.quote(self.workspace)} && "
            f"exec env -i /bin/sh -c {shlex.quote(WRAPPER)} "
            f"{shlex.quote(base)}.env {shlex.quote(base)}.sh"
        )
        channel = self._client.get_transport().open_session()
        try:
            channel.set_combine_stderr(True)
            channel.settimeout(IDLE_TICK)
            channel.exec_command(command)
            return self._follow(channel, f"{base}.pid", on_output, cancel)
        finally:
            channel.close()

    def _write(self, path: str, text: str, mode: int) -> None:
        with self._sftp.open(path, "wb") as f:
            f.chmod(mode)
            f.write(text.encode())

    def _follow(self, channel: Any, pid_file: str, on_output: OnOutput, cancel: Cancel) -> int:
        """Stream the channel until the job's exit status; stop its group when cancelled."""
        term_at: float | None = None
        eof = False
        while not channel.exit_status_ready():
            if cancel.is_set():
                if term_at is None:
                    self._signal(pid_file, "TERM")
                    term_at = time.monotonic()
                elif time.monotonic() - term_at > KILL_GRACE:
                    self._signal(pid_file, "KILL")
                    return 128 + 9  # the channel is closed by the caller
            if eof:
                time.sleep(IDLE_TICK)
            else:
                eof = not self._receive(channel, on_output)
        deadline = time.monotonic() + DRAIN_LIMIT
        while time.monotonic() < deadline and self._receive(channel, on_output):
            pass
        status = int(channel.recv_exit_status())
        return 255 if status < 0 else status  # -1: ended by a signal, no status sent

    @staticmethod
    def _receive(channel: Any, on_output: OnOutput) -> bool:
        try:
            data = channel.recv(CHUNK)
        except TimeoutError:  # socket.timeout: nothing within one tick
            on_output(b"")
            return True
        if not data:
            return False
        on_output(bytes(data))
        return True

    def _signal(self, pid_file: str, sig: str) -> None:
        """Signal the job's process group on the host (best effort: it may be gone)."""
        with suppress(paramiko.SSHException, OSError):  # (dash's kill takes no `--`)
            self._exec(f'kill -{sig} "-$(cat {shlex.quote(pid_file)})" 2>/dev/null')

    def destroy(self) -> None:
        try:
            if self._root is not None and self._client is not None:
                with suppress(paramiko.SSHException, OSError):
                    self._exec(f"rm -rf -- {shlex.quote(self._root)}")
        finally:
            self._root = None
            if self._sftp is not None:
                self._sftp.close()
            if self._client is not None:
                self._client.close()
            self._sftp = self._client = None

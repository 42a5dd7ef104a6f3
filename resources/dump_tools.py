"""The client tools' processes behind the dump resources (``resources.database``,
``resources.postgres_dump``): a dump's stdout streamed in chunks, a restore fed on stdin, the
tools found and their versions read, and a failing tool's stderr explained. Imported by the
first dump or restore, not when the code location loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

from resources.database import DumpFailed


class _Tail:
    """Collect the last few KB of a pipe in a thread (so a chatty stderr cannot block)."""

    def __init__(self, pipe: Any, keep: int = 4096):
        self._buf = b""
        self._keep = keep
        self._pipe = pipe
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for line in iter(lambda: self._pipe.read(4096), b""):
            self._buf = (self._buf + line)[-self._keep:]
        self._pipe.close()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def text(self) -> str:
        return self._buf.decode(errors="replace").strip()


# What a client's stderr means, first match wins (lower case).
_WHY = (
    ("not allowed in the sandbox mode", "refused a client command (--sandbox)"),
    ("ssl", "TLS failed (the server offers none, or its certificate does not verify)"),
    ("access denied", "wrong credentials (access denied)"),
    ("can't connect", "server unreachable"),
    ("unknown server host", "server unreachable"),
    ("lost connection", "server unreachable"),
    ("unknown database", "unknown database"),
)


# A restore runs as the drill user, whose grants cover the scratch database alone.
RESTORE_WHY = (
    ("not allowed in the sandbox mode", "refused a client command (--sandbox)"),
    ("ssl", "TLS failed (the server offers none, or its certificate does not verify)"),
    ("ssl", "TLS failed (the server offers none, or its certificate does not verify)"),
    ("denied", "refused: the dump reaches outside its scratch database"),
)


def _explain(what: str, code: int, stderr: str, table: tuple[tuple[str, str], ...] = _WHY
             ) -> str:
    low = stderr.lower()
    why = next((w for needle, w in table if needle in low), f"exit code {code}")
    last = stderr.splitlines()[-1] if stderr else ""
    return f"{what} failed: {why}" + (f" ({last})" if last else "")


def find_binary(name: str, install: str) -> str:
    """The path of the client tool ``name`` (on PATH, or an absolute path); ``DumpFailed``
    saying what to ``install`` when there is none."""
    path = shutil.which(name) or (name if os.path.isabs(name) and os.path.exists(name) else None)
    if not path:
        raise DumpFailed(f"{name} not found on PATH: {install}")
    return path


def tool_versions(names: Iterable[str], locate: Callable[[str], str]) -> dict[str, str]:
    """``--version`` of each client tool, by its file name (for the manifest); a tool that
    cannot run says why instead."""
    out = {}
    for name in names:
        try:
            text = subprocess.run([locate(name), "--version"], capture_output=True,
                                  text=True, timeout=10, check=False).stdout.strip()
        except (OSError, DumpFailed, subprocess.SubprocessError) as exc:
            text = f"unavailable ({exc})"
        out[os.path.basename(name)] = text
    return out


def _widen_pipe(fd: int, size: int = 1024 * 1024) -> None:
    """Let the pipe hold ``size`` bytes (Linux; 1 MiB is what an unprivileged process may ask):
    with the default 64 KiB, the reader and the tool wake each other for every 64 KiB, 16,000
    times a GiB. Where it is refused (another OS, the user's pipe quota), the pipe stays as it
    is."""
    import fcntl

    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with suppress(OSError):
        fcntl.fcntl(fd, set_size, size)


def stream_output(cmd: list[str], env: dict[str, str], chunk_size: int, what: str,
                  table: tuple[tuple[str, str], ...] = _WHY) -> Iterator[bytes]:
    """``cmd``'s stdout in chunks of ``chunk_size``; the iterator raises ``DumpFailed`` at its
    end when the tool exited non-zero (its stderr explained by ``table``), and kills the tool
    when the consumer stops early."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    err = _Tail(proc.stderr)
    stdout = proc.stdout
    assert stdout is not None
    _widen_pipe(stdout.fileno())
    finished = False
    try:
        yield from iter(lambda: stdout.read(chunk_size), b"")
        code = proc.wait()
        err.join()
        if code != 0:
            raise DumpFailed(_explain(what, code, err.text(), table))
        finished = True
    finally:
        if not finished and proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()


def feed_input(cmd: list[str], data: Iterable[bytes], env: dict[str, str], what: str,
               table: tuple[tuple[str, str], ...]) -> int:
    """Run ``cmd`` with ``data`` on its stdin; return the bytes fed. ``DumpFailed`` when the
    tool exits early or non-zero (its stderr explained by ``table``)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    err = _Tail(proc.stderr)
    total = 0
    assert proc.stdin is not None
    try:
        for block in data:
            total += len(block)
            proc.stdin.write(block)
        proc.stdin.close()
    except BrokenPipeError as exc:
        proc.kill()
        proc.wait()
        err.join()
        raise DumpFailed(f"{what} failed: {exc}; {err.text()}") from None
    code = proc.wait()
    err.join()
    if code != 0:
        raise DumpFailed(_explain(what, code, err.text(), table))
    return total

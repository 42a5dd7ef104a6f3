"""A dump tool's output streams through a pipe widened to 1 MiB, in chunks, whole and in order
(resources/database.py ``stream_output``)."""

from __future__ import annotations

import fcntl
import os
import sys

import pytest

from resources.database import DumpFailed
from resources.dump_tools import _widen_pipe, stream_output

PRINT = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 40000)"


def test_the_tools_output_arrives_whole_in_chunks() -> None:
    chunks = list(stream_output([sys.executable, "-c", PRINT], dict(os.environ), 1 << 20, "t"))
    assert b"".join(chunks) == bytes(range(256)) * 40000
    assert [len(c) for c in chunks[:-1]] == [1 << 20] * (len(chunks) - 1)


def test_a_failing_tool_fails_the_stream_at_its_end() -> None:
    with pytest.raises(DumpFailed):
        list(stream_output([sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ),
                           1024, "t"))


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_the_pipe_holds_a_mebibyte() -> None:
    read, write = os.pipe()
    try:
        _widen_pipe(read)
        assert fcntl.fcntl(read, fcntl.F_GETPIPE_SZ) == 1024 * 1024
    finally:
        os.close(read)
        os.close(write)

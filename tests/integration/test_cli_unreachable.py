"""The plan CLI against an API nobody listens on: exit 1 naming the request, no traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connections refused


def test_plan_with_an_unreachable_api_fails_naming_the_request(tmp_path: Path) -> None:
    port = closed_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "IONOS_TOKEN": "t",
           "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "IONOS_API_URL": f"http://127.0.0.1:{port}/cloudapi/v6",
           "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    proc = subprocess.run([sys.executable, "-m", "platform_assets", "plan"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert re.match(r"error: ionos/datacenter: RetriesExhausted: GET /datacenters failed "
                    r"after \d+ attempts", error), error
    assert f"port={port}" in error and "Connection refused" in error

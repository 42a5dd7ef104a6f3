"""A stalled IONOS endpoint ends the call within the resource's timeout instead of hanging."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from resources.ionos import IonosCloudResource
from resources.retry import RetriesExhausted

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_stalled_api_times_out(silent_server: int) -> None:
    ionos = IonosCloudResource(api_url=f"http://127.0.0.1:{silent_server}/cloudapi/v6",
                               token="t", http_timeout_seconds=0.5, retry_attempts=2,
                               retry_max_wait_seconds=0.1)
    start = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        ionos.call("GET /datacenters", lambda: ionos.api("DataCentersApi").datacenters_get())
    assert time.monotonic() - start < 10
    assert "timed out" in str(info.value).lower() or "timeout" in repr(info.value).lower()

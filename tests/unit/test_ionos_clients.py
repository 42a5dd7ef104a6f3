"""The IONOS resource builds each SDK client once, even when a reconcile's worker threads ask for
it at the same moment (the first request of each parallel IONOS node)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from resources.ionos import IonosCloudResource


def test_concurrent_first_use_builds_one_client() -> None:
    ionos = IonosCloudResource(token="t")
    builds: list[int] = []
    start = threading.Barrier(8)

    def build() -> object:
        builds.append(threading.get_ident())
        time.sleep(0.05)  # a build that imports an SDK: long enough for the others to arrive
        return object()

    def ask() -> object:
        start.wait()
        return ionos._client_once("cloud", build)

    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: ask(), range(8)))
    assert len(builds) == 1
    assert all(c is clients[0] for c in clients)


def test_a_client_built_inside_another_build_does_not_deadlock() -> None:
    """``api(name)`` builds an API class around ``cloud_client()``: the lock is re-entrant."""
    ionos = IonosCloudResource(token="t")
    inner = ionos._client_once("outer", lambda: ("wraps", ionos._client_once("inner", object)))
    assert inner[0] == "wraps"
    assert ionos._client_once("inner", object) is inner[1]

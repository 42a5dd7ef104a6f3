"""IonosCloudResource's error paths against the sandbox's IONOS emulators and the real SDKs: a
FAILED request, a request and a resource that never finish (on a clock the test moves), 401 and
403 from each API (never retried), and two resources with one name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from resources.ionos import IonosCloudResource, IonosRequestFailed
from sandbox.certmanager import CertificateManagerService
from sandbox.http import COUNTER, FAULTS, FaultConfig, RunningServer, serve
from sandbox.ionos import IonosCloudService
from sandbox.mariadb import MariaDBService
from sandbox.world import World

pytestmark = pytest.mark.integration

TOKEN = "sandbox-ionos-token"
NEVER = 3600.0  # seconds of real time an emulated request takes: longer than any test


@dataclass
class Emulators:
    ionos: IonosCloudService
    servers: list[RunningServer]

    def resource(self, token: str = TOKEN) -> IonosCloudResource:
        cloud, mariadb, certs = (s.url for s in self.servers)
        return IonosCloudResource(api_url=f"{cloud}/cloudapi/v6",
                                  mariadb_url=f"{mariadb}/mariadb/v2",
                                  certmanager_url=f"{certs}/certmanager", token=token,
                                  retry_attempts=3, retry_max_wait_seconds=0.1)


def start(delay: float) -> Emulators:
    world = World()
    ionos = IonosCloudService(world, TOKEN, "user@example.com", "pw", delay=delay)
    servers = [serve(ionos), serve(MariaDBService(world, TOKEN)),
               serve(CertificateManagerService(world, TOKEN))]
    return Emulators(ionos, servers)


@pytest.fixture
def emulators() -> Iterator[Emulators]:
    em = start(delay=0.0)
    yield em
    for s in em.servers:
        s.stop()


@pytest.fixture
def slow_emulators() -> Iterator[Emulators]:
    em = start(delay=NEVER)
    yield em
    for s in em.servers:
        s.stop()


class SteppingClock:
    """A monotonic clock that moves ``step`` seconds each time it is read; sleeps are recorded."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.t += self.step
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_a_failed_request_names_the_request(emulators: Emulators) -> None:
    emulators.ionos.fail_next("datacenter")
    with pytest.raises(IonosRequestFailed,
                       match=r"^POST /datacenters \(dc\): IONOS request [-0-9a-f]+ FAILED"):
        emulators.resource().create_datacenter({"name": "dc", "location": "de/fra"})


def test_a_request_that_never_finishes_times_out_on_the_clock(slow_emulators: Emulators) -> None:
    res = slow_emulators.resource()
    dcs = res.api("DataCentersApi")
    _, rid = res.write("POST /datacenters (dc)", lambda: dcs.datacenters_post_with_http_info(
        {"properties": {"name": "dc", "location": "de/fra"}}))
    assert rid
    clock = SteppingClock(step=500)
    with pytest.raises(IonosRequestFailed) as err:
        res.wait_for_request(rid, "POST /datacenters (dc)", sleep=clock.sleep, clock=clock)
    assert re.fullmatch(rf"POST /datacenters \(dc\): IONOS request {rid} still "
                        r"(QUEUED|RUNNING) after 1800s", str(err.value)), str(err.value)
    # Polled at 500, 1000 and 1500 s of the 1800 s budget, backing off between polls.
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_resource_that_never_becomes_ready_times_out_on_the_clock(
        slow_emulators: Emulators) -> None:
    res = slow_emulators.resource()
    k8s = res.api("KubernetesApi")
    cluster = k8s.k8s_post({"properties": {"name": "k8s", "k8sVersion": "1.32.6"}})
    clock = SteppingClock(step=700)
    with pytest.raises(IonosRequestFailed, match=r"^GET /k8s/\S+: not ready after 1800s$"):
        res.wait_until(f"GET /k8s/{cluster.id}", lambda: k8s.k8s_find_by_cluster_id(cluster.id),
                       lambda c: c.metadata.state == "ACTIVE", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 2.0]


CALLS: dict[str, Callable[[IonosCloudResource], Any]] = {
    "ionos": lambda res: res.find_datacenter("dc"),
    "mariadb": lambda res: res.list_mariadb_clusters(),
    "certmanager": lambda res: res.list_certificates(),
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_wrong_token_is_401_from_each_api_and_not_retried(emulators: Emulators,
                                                            service: str) -> None:
    before = COUNTER.snapshot().get(service, {}).get("GET", 0)
    with pytest.raises(Exception) as err:
        CALLS[service](emulators.resource(token="wrong-token"))
    assert getattr(err.value, "status", None) == 401, repr(err.value)
    assert COUNTER.snapshot()[service]["GET"] - before == 1


@pytest.mark.parametrize("service", sorted(CALLS))
def test_403_from_each_api_is_not_retried(emulators: Emulators, service: str) -> None:
    # A token without the privilege: IONOS answers 403 (not transient, so never retried).
    before = COUNTER.snapshot().get(service, {}).get("GET", 0)
    FAULTS.set(service, FaultConfig(error_rate=1.0, statuses=[403], times=1))
    try:
        with pytest.raises(Exception) as err:
            CALLS[service](emulators.resource())
    finally:
        FAULTS.set(service, None)
    assert getattr(err.value, "status", None) == 403, repr(err.value)
    assert COUNTER.snapshot()[service]["GET"] - before == 1


def test_two_datacenters_with_one_name_are_an_error_naming_both(emulators: Emulators) -> None:
    res = emulators.resource()
    dcs = res.api("DataCentersApi")
    ids = [dcs.datacenters_post({"properties": {"name": "twin", "location": "de/fra"}}).id
           for _ in range(2)]
    with pytest.raises(LookupError, match="2 IONOS resources are named 'twin'") as err:
        res.find_datacenter("twin")
    assert all(i in str(err.value) for i in ids)
    assert res.find_datacenter("other") is None

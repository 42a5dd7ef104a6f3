"""The sandbox's IONOS DBaaS In-Memory DB emulator against the API's contract, with the real
``ionoscloud_dbaas_inmemorydb`` 1.0.0 SDK (its models and API classes are the source: paths,
statuses, ``ClusterState``, the bounds of ``InstanceConfiguration``, ``User``,
``HashedPassword`` and ``ClusterConnection``): auth, states, validation, and a real Redis
behind the cluster's dnsName when one runs on 127.0.0.1:6379."""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.http import serve
from sandbox.inmemorydb import InMemoryDBService
from sandbox.world import World
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

TOKEN = "imdb-test-token"
PASSWORD = "cache-pass-1"
BODY: dict[str, Any] = {
    "name": "cache", "version": "7.2", "instances": {"count": 3, "cores": 1, "ram": 4},
    "connection": {"datacenterId": "dc", "lanId": "1",
                   "primaryInstanceAddress": "10.7.222.120/24"},
    "persistenceMode": "RDB", "evictionPolicy": "allkeys-lru",
    "maintenanceWindow": {"dayOfTheWeek": "Sunday", "time": "07:00:00"},
    "credentials": {"username": "cacheuser", "password": {
        "algorithm": "SHA-256", "hash": hashlib.sha256(PASSWORD.encode()).hexdigest()}}}


def raw(method: str, url: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def server(world: World) -> Iterator[tuple[InMemoryDBService, str]]:
    service = InMemoryDBService(world, TOKEN, delay=3600)
    running = serve(service)
    try:
        yield service, f"{running.url}/in-memory-db"
    finally:
        running.stop()


@pytest.fixture
def imdb() -> Iterator[tuple[InMemoryDBService, str]]:
    yield from server(World())


def api(url: str, token: str = TOKEN) -> Any:
    import ionoscloud_dbaas_inmemorydb as im

    return im.ClustersApi(im.ApiClient(im.Configuration(host=url, token=token)))


def test_no_or_a_wrong_token_is_401_with_the_error_body(imdb) -> None:
    """Errors are ``{httpStatus, messages[{errorCode, message}]}`` (the SDK's Error model)."""
    import ionoscloud_dbaas_inmemorydb as im

    _, url = imdb
    status, body = raw("GET", f"{url}/clusters", token=None)
    assert status == 401 and body["httpStatus"] == 401 and body["messages"][0]["errorCode"]
    with pytest.raises(im.ApiException) as exc:
        api(url, "wrong").clusters_get()
    assert exc.value.status == 401


def test_states_follow_cluster_state_and_the_hash_is_write_only(imdb) -> None:
    """POST 201 PROVISIONING, GET AVAILABLE once done, PUT 200 UPDATING, DELETE 202 then
    DESTROYING and 404 (the SDK's response maps and ``ClusterState``); the dnsName pattern is
    ``ClusterMetadata.dns_name``'s ``<clusterId>.in-memory-db.<location>.ionos.com``."""
    import ionoscloud_dbaas_inmemorydb as im

    service, url = imdb
    clusters = api(url)
    created = clusters.clusters_post(im.ClusterCreate.from_dict({"properties": BODY}))
    assert created.metadata.state == im.ClusterState.PROVISIONING
    assert created.properties.credentials.password is None, "write-only"
    assert created.metadata.dns_name == f"{created.id}.in-memory-db.de-fra.ionos.com"
    service._clusters[created.id]["pending"][0] = 0
    assert clusters.clusters_find_by_id(created.id).metadata.state == "AVAILABLE"
    props = {k: v for k, v in BODY.items() if k != "credentials"}
    updated = clusters.clusters_put(created.id, im.ClusterEnsure.from_dict(
        {"id": created.id, "properties": {**props, "instances": {**BODY["instances"],
                                                                  "cores": 2}}}))
    assert updated.metadata.state == "UPDATING" and updated.properties.instances.cores == 2
    status, _ = raw("DELETE", f"{url}/clusters/{created.id}")
    assert status == 202
    assert clusters.clusters_find_by_id(created.id).metadata.state == "DESTROYING"
    service._clusters[created.id]["delete_at"] = 0
    status, body = raw("GET", f"{url}/clusters/{created.id}")
    assert status == 404 and body["httpStatus"] == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "-bad"}, "properties.name"),
    ({"instances": {"count": 6, "cores": 1, "ram": 4}}, "properties.instances.count"),
    ({"instances": {"count": 1, "cores": 1, "ram": 2}}, "properties.instances.ram"),
    ({"connection": {"datacenterId": "dc", "lanId": "1",
                     "primaryInstanceAddress": "10.210.1.5/24"}},
     "properties.connection.primaryInstanceAddress"),
    ({"persistenceMode": "ALWAYS"}, "properties.persistenceMode"),
    ({"evictionPolicy": "lru"}, "properties.evictionPolicy"),
    ({"version": "6.0"}, "properties.version"),
    ({"credentials": {"username": "u", "password": {"hash": "a" * 64}}},
     "properties.credentials.username"),
    ({"credentials": {"username": "user", "password": {"hash": "ABC"}}},
     "properties.credentials.password.hash"),
])
def test_invalid_bodies_are_422_naming_the_field(imdb, change: dict[str, Any],
                                                 field: str) -> None:
    _, url = imdb
    status, body = raw("POST", f"{url}/clusters", {"properties": {**BODY, **change}})
    assert status == 422, body
    assert body["messages"][0]["message"].startswith(f"[{field}]")


def test_ram_never_lowers_and_the_user_never_changes(imdb) -> None:
    _, url = imdb
    _, created = raw("POST", f"{url}/clusters", {"properties": {
        **BODY, "instances": {"count": 1, "cores": 1, "ram": 8}}})
    props = {k: v for k, v in BODY.items() if k != "credentials"}
    status, body = raw("PUT", f"{url}/clusters/{created['id']}", {"properties": props})
    assert status == 422 and "cannot be downgraded" in body["messages"][0]["message"]
    status, body = raw("PUT", f"{url}/clusters/{created['id']}", {"properties": {
        **props, "instances": {"count": 1, "cores": 1, "ram": 8},
        "credentials": {"username": "other"}}})
    assert status == 422 and "cannot be changed" in body["messages"][0]["message"]


def test_a_real_redis_behind_the_dns_name_takes_the_hashed_password() -> None:
    from sandbox.app import probe_redis

    if not probe_redis():
        missing_service("no Redis on 127.0.0.1:6379 (Debian: apt-get install redis-server)")
    world = World()
    world.extras.update(redis_host="127.0.0.1", redis_port=6379)
    for _service, url in server(world):
        status, created = raw("POST", f"{url}/clusters", {"properties": BODY})
        assert status == 201 and created["metadata"]["dnsName"] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", 6379), timeout=3) as sock:
            sock.sendall(f"*3\r\n$4\r\nAUTH\r\n$9\r\ncacheuser\r\n${len(PASSWORD)}\r\n"
                         f"{PASSWORD}\r\n".encode())
            assert sock.recv(64).startswith(b"+OK")
            sock.sendall(b"*3\r\n$4\r\nAUTH\r\n$9\r\ncacheuser\r\n$5\r\nwrong\r\n")
            assert sock.recv(64).startswith(b"-WRONGPASS")


def test_the_admin_api_counts_and_faults_the_in_memory_db_under_its_own_name(
        sandbox: Any, sandbox_env: dict[str, str]) -> None:
    """``GET /requests`` counts ``inmemorydb`` (and ``postgres``) apart from ``ionos``; a fault
    for ``inmemorydb`` hits only it, with the IONOS error body and an integer Retry-After."""
    import ionoscloud_dbaas_inmemorydb as im
    import ionoscloud_dbaas_postgres as pg

    url, token = sandbox_env["IONOS_INMEMORYDB_URL"], sandbox_env["IONOS_TOKEN"]
    sandbox.reset_counts()
    api(url, token).clusters_get()
    pg.ClustersApi(pg.ApiClient(pg.Configuration(
        host=sandbox_env["IONOS_POSTGRES_URL"], token=token))).clusters_get()
    counts = sandbox.requests()
    assert counts["inmemorydb"]["GET"] == 1 and counts["postgres"]["GET"] == 1
    assert counts["ionos"]["GET"] == 0
    sandbox.set_fault("inmemorydb", error_rate=1.0, statuses=[503], retry_after=1)
    with pytest.raises(im.ApiException) as exc:
        api(url, token).clusters_get()
    assert exc.value.status == 503 and exc.value.headers["Retry-After"] == "1"
    status, _ = raw("GET", f"{sandbox_env['IONOS_POSTGRES_URL']}/clusters", token=token)
    assert status == 200  # the other services are untouched

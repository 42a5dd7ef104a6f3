"""The sandbox's IONOS DBaaS PostgreSQL emulator against the API's contract, with the real
``ionoscloud_dbaas_postgres`` 3.x SDK: auth, states, validation, versions and storage."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.http import serve
from sandbox.postgres import PostgresService
from sandbox.world import World

pytestmark = pytest.mark.integration

TOKEN = "pg-test-token"
PASSWORD = "Str0ng-pass@"
BODY = {"name": "apps", "version": "16",
        "instances": {"count": 1, "cores": 2, "ram": 4, "storageSize": 20},
        "connection": {"datacenterId": "dc", "lanId": "1",
                       "primaryInstanceAddress": "10.7.222.110/24"},
        "maintenanceWindow": {"dayOfTheWeek": "Sunday", "time": "08:00:00"},
        "credentials": {"username": "apps", "password": PASSWORD, "database": "apps"}}


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


@pytest.fixture
def pg_server() -> Iterator[tuple[PostgresService, str]]:
    service = PostgresService(World(), TOKEN, delay=3600)
    server = serve(service)
    yield service, f"{server.url}/postgresql"
    server.stop()


def test_no_or_a_wrong_token_is_401_with_the_error_body(pg_server) -> None:
    """Without credentials or with a wrong token the answer is 401; errors are
    ``{httpStatus, messages[{errorCode, message}]}`` (the SDK's Error model)."""
    import ionoscloud_dbaas_postgres as pg

    _, url = pg_server
    status, body = raw("GET", f"{url}/clusters", token=None)
    assert status == 401 and body["httpStatus"] == 401 and body["messages"][0]["errorCode"]
    with pytest.raises(pg.ApiException) as exc:
        pg.ClustersApi(pg.ApiClient(pg.Configuration(host=url, token="wrong"))).clusters_get()
    assert exc.value.status == 401


def test_states_follow_postgres_cluster_states(pg_server) -> None:
    """PostgresClusterStates (SDK 3.0.1): PROVISIONING while created, UPDATING after a PUT,
    AVAILABLE when done, DESTROYING after a DELETE; POST answers 201, PUT 200, DELETE 202 (the
    SDK's response maps)."""
    import ionoscloud_dbaas_postgres as pg

    service, url = pg_server
    api = pg.ClustersApi(pg.ApiClient(pg.Configuration(host=url, token=TOKEN)))
    created = api.clusters_post(pg.ClusterCreate.from_dict({"properties": BODY}))
    assert created.metadata.state == pg.PostgresClusterStates.PROVISIONING
    assert created.properties.credentials.password is None, "write-only"
    assert created.metadata.dns_name.endswith(".postgresql.de-fra.ionos.com")
    service._clusters[created.id]["pending"][0] = 0
    assert api.clusters_find_by_id(created.id).metadata.state == "AVAILABLE"
    props = {k: v for k, v in BODY.items() if k != "credentials"}
    props["instances"] = {**BODY["instances"], "storageSize": 30}
    updated = api.clusters_put(created.id, pg.ClusterEnsure.from_dict(
        {"id": created.id, "properties": props}))
    assert updated.metadata.state == "UPDATING" and updated.properties.instances.storage_size == 30
    status, _ = raw("DELETE", f"{url}/clusters/{created.id}")
    assert status == 202
    assert api.clusters_find_by_id(created.id).metadata.state == "DESTROYING"


@pytest.mark.parametrize(("change", "field"), [
    ({"instances": {"count": 6, "cores": 2, "ram": 4, "storageSize": 20}}, "instances.count"),
    ({"instances": {"count": 1, "cores": 2, "ram": 2, "storageSize": 20}}, "instances.ram"),
    ({"connection": {"datacenterId": "dc", "lanId": "1",
                     "primaryInstanceAddress": "10.210.0.5/24"}}, "primaryInstanceAddress"),
    ({"credentials": {"username": "apps", "password": "alllowercase1@"}}, "password"),
    ({"credentials": {"username": "postgres", "password": PASSWORD}}, "username"),
    ({"replicationMode": "STRICTLY_SYNCHRONOUS"}, "replicationMode"),
    ({"version": "9.6"}, "version"),
    ({"maintenanceWindow": {"dayOfTheWeek": "sunday", "time": "08:00:00"}}, "dayOfTheWeek"),
])
def test_invalid_clusters_are_422_naming_the_field(pg_server, change, field) -> None:
    """The bounds of InstanceConfiguration, PostgresUser (password rules in its field docs),
    PostgresClusterConnection (10.208.0.0/12 unavailable), PostgresClusterReplicationMode
    (strictly synchronous needs 3 instances), DayOfTheWeek; the SDK declares 422 on POST. Sent
    raw: the SDK's own models refuse most of these before sending."""
    _, url = pg_server
    status, body = raw("POST", f"{url}/clusters", {"properties": {**BODY, **change}})
    assert status == 422, body
    assert field in body["messages"][0]["message"]


def test_versions_upgrade_one_major_and_storage_never_shrinks(pg_server) -> None:
    """PostgresVersion.canUpgradeTo lists where a version may go; storage only grows."""
    import ionoscloud_dbaas_postgres as pg

    _, url = pg_server
    client = pg.ApiClient(pg.Configuration(host=url, token=TOKEN))
    versions = {v.properties.version: v.properties.can_upgrade_to
                for v in pg.VersionsApi(client).versions_get().items}
    assert versions["16"] == ["17"] and versions["17"] == []
    status, created = raw("POST", f"{url}/clusters", {"properties": BODY})
    assert status == 201
    props = {k: v for k, v in BODY.items() if k != "credentials"}
    status, body = raw("PUT", f"{url}/clusters/{created['id']}",
                       {"properties": {**props, "version": "14"}})
    assert status == 422 and "cannot change from 16 to 14" in body["messages"][0]["message"]
    status, body = raw("PUT", f"{url}/clusters/{created['id']}", {"properties": {
        **props, "instances": {**BODY["instances"], "storageSize": 10}}})
    assert status == 422 and "cannot shrink" in body["messages"][0]["message"]

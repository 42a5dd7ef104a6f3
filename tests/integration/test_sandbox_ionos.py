"""The sandbox's IONOS Cloud API v6, DBaaS MariaDB v2 and Certificate Manager v2, real SDKs."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.certmanager import CertificateManagerService
from sandbox.http import COUNTER, FAULTS, FaultConfig, RunningServer, serve
from sandbox.ionos import IonosCloudService
from sandbox.mariadb import MariaDBService
from sandbox.world import World
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

TOKEN = "sandbox-ionos-token"
USER, PASSWORD = "sandbox@example.com", "sandbox-password"
KUBE_URL = "https://127.0.0.1:6443"
SLOW_DELAY = 60.0


class Clock:
    """The IONOS emulators' clock (``now`` in sandbox.ionos, .dbaas, .mariadb, .certmanager),
    moved only by the test: interim states (BUSY, DEPLOYING, DESTROYING) hold until it says so."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float = SLOW_DELAY + 1) -> None:
        self.t += seconds


class Sandbox:
    """The three IONOS services on their own ports, sharing one World."""

    def __init__(self, delay: float = 0.0, state_dir: Path | None = None) -> None:
        self.world = World(kubernetes_url=KUBE_URL, kubernetes_token="kube-token")
        self.pool_updates: list[tuple[str, list[dict[str, Any]]]] = []
        self.world.set_pool_nodes = lambda name, nodes: self.pool_updates.append((name, nodes))
        self.ionos = IonosCloudService(self.world, TOKEN, USER, PASSWORD, delay=delay,
                                       state_dir=state_dir)
        self.mariadb = MariaDBService(self.world, TOKEN, delay=delay, state_dir=state_dir,
                                      username=USER, password=PASSWORD)
        self.certs = CertificateManagerService(self.world, TOKEN, state_dir=state_dir,
                                               username=USER, password=PASSWORD)
        self.servers: list[RunningServer] = [serve(self.ionos), serve(self.mariadb),
                                             serve(self.certs)]
        self.cloud_url = self.servers[0].url + "/cloudapi/v6"
        self.mariadb_url = self.servers[1].url + "/mariadb/v2"
        self.certs_url = self.servers[2].url + "/certmanager"

    def stop(self) -> None:
        # In parallel: each server takes up to its half-second poll interval to shut down.
        threads = [threading.Thread(target=server.stop) for server in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=5)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox()
    yield sb
    sb.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    for module in ("sandbox.ionos", "sandbox.dbaas", "sandbox.mariadb", "sandbox.certmanager"):
        monkeypatch.setattr(f"{module}.now", c)
    return c


@pytest.fixture
def slow_sandbox(clock: Clock) -> Iterator[Sandbox]:
    """Transitions take SLOW_DELAY seconds of the test's clock: they happen when it advances."""
    sb = Sandbox(delay=SLOW_DELAY)
    yield sb
    sb.stop()


def sdk(api_class: Any, client: Any) -> Any:
    """An API object of the pydantic SDKs, typed loosely: tests read optional fields freely."""
    return api_class(client)


def cloud(sb: Sandbox, **cfg: Any) -> Any:
    import ionoscloud

    args = cfg or {"token": TOKEN}
    client = ionoscloud.ApiClient(ionoscloud.Configuration(host=sb.cloud_url, **args))
    client.configuration.wait_time = 0.05
    return client


def request_id(headers: Any) -> str:
    match = re.search(r"/requests/([-A-Fa-f0-9]+)/", headers["Location"])
    assert match, headers["Location"]
    return match.group(1)


def raw(url: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def make_datacenter(client: Any, name: str = "dc", location: str = "de/fra") -> Any:
    import ionoscloud

    api = ionoscloud.DataCentersApi(client)
    dc, status, headers = api.datacenters_post_with_http_info(ionoscloud.DatacenterPost(
        properties=ionoscloud.DatacenterPropertiesPost(name=name, location=location)))
    assert status == 202
    client.wait_for_completion(request_id(headers), initial_wait=0.05, max_wait=0.2)
    return dc


def wait_state(fn: Any, state: str, timeout: float = 10.0) -> Any:
    import ionoscloud

    return ionoscloud.ApiClient.wait_for(fn_request=fn,
                                         fn_check=lambda r: r.metadata.state == state,
                                         timeout=timeout, initial_wait=0.05, max_wait=0.2)


def pool_body(dc_id: str, lan_id: int | None = None, nodes: int = 2, ram: int = 4096) -> Any:
    import ionoscloud

    lans = [ionoscloud.KubernetesNodePoolLan(id=lan_id, dhcp=True)] if lan_id else None
    return ionoscloud.KubernetesNodePoolForPost(
        properties=ionoscloud.KubernetesNodePoolPropertiesForPost(
            name="workers", datacenter_id=dc_id, node_count=nodes, cores_count=2, ram_size=ram,
            availability_zone="AUTO", storage_type="SSD", storage_size=20, lans=lans,
            k8s_version="1.32.6", labels={"role": "app"}))


def cluster_body(name: str = "k8s-test") -> Any:
    import ionoscloud

    return ionoscloud.KubernetesClusterForPost(
        properties=ionoscloud.KubernetesClusterPropertiesForPost(
            name=name, k8s_version="1.32.6",
            maintenance_window=ionoscloud.KubernetesMaintenanceWindow(
                day_of_the_week="Sunday", time="10:00:00Z"),
            api_subnet_allow_list=["203.0.113.0/24"]))


def test_full_flow_datacenter_to_kubeconfig(slow_sandbox: Sandbox, clock: Clock) -> None:
    import ionoscloud

    sb = slow_sandbox
    client = cloud(sb)
    dc_api = ionoscloud.DataCentersApi(client)
    dc, status, headers = dc_api.datacenters_post_with_http_info(ionoscloud.DatacenterPost(
        properties=ionoscloud.DatacenterPropertiesPost(name="prod", location="de/fra")))
    assert status == 202 and dc.metadata.state == "BUSY"
    assert headers["Location"].startswith(sb.cloud_url + "/requests/")
    rid = request_id(headers)
    first = ionoscloud.RequestsApi(client).requests_status_get(rid)
    assert first.metadata.status in ("QUEUED", "RUNNING")
    assert dc_api.datacenters_find_by_id(dc.id).metadata.state == "BUSY"
    clock.advance()
    client.wait_for_completion(rid, initial_wait=0.05, max_wait=0.2)
    assert dc_api.datacenters_find_by_id(dc.id).metadata.state == "AVAILABLE"

    lan, _, headers = ionoscloud.LANsApi(client).datacenters_lans_post_with_http_info(
        dc.id, ionoscloud.Lan(properties=ionoscloud.LanProperties(name="private", public=False)))
    assert lan.id == "1"
    clock.advance()
    client.wait_for_completion(request_id(headers), initial_wait=0.05, max_wait=0.2)

    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(cluster_body())
    assert cluster.metadata.state == "DEPLOYING"
    with pytest.raises(ionoscloud.ApiException) as err:  # not ACTIVE yet
        k8s.k8s_nodepools_post(cluster.id, pool_body(dc.id, int(lan.id)))
    assert err.value.status == 422
    assert k8s.k8s_find_by_cluster_id(cluster.id).metadata.state == "DEPLOYING"
    clock.advance()
    cluster = wait_state(lambda: k8s.k8s_find_by_cluster_id(cluster.id), "ACTIVE")
    assert cluster.properties.k8s_version == "1.32.6"
    assert cluster.properties.maintenance_window.day_of_the_week == "Sunday"
    assert "1.33.2" in cluster.properties.available_upgrade_versions

    pool = k8s.k8s_nodepools_post(cluster.id, pool_body(dc.id, int(lan.id)))
    assert pool.metadata.state == "DEPLOYING"
    assert pool.properties.lans[0].id == int(lan.id)
    nodes = k8s.k8s_nodepools_nodes_get(cluster.id, pool.id, depth=1).items
    assert len(nodes) == 2
    assert {n.metadata.state for n in nodes} == {"PROVISIONING"}
    # PROVISIONING nodes are not registered with Kubernetes yet.
    assert not [update for update in sb.pool_updates if update[1]]
    clock.advance()
    wait_state(lambda: k8s.k8s_nodepools_find_by_id(cluster.id, pool.id), "ACTIVE")
    nodes = k8s.k8s_nodepools_nodes_get(cluster.id, pool.id, depth=1).items
    assert {n.metadata.state for n in nodes} == {"READY"}
    node = k8s.k8s_nodepools_nodes_find_by_id(cluster.id, pool.id, nodes[0].id)
    assert node.properties.k8s_version == "1.32.6" and node.properties.private_ip

    # The poll that saw the pool ACTIVE registered its nodes.
    name, world_nodes = sb.pool_updates[-1]
    assert name == "workers" and len(world_nodes) == 2
    assert all(n["ready"] and n["labels"] == {"role": "app"} for n in world_nodes)
    assert {n["name"] for n in world_nodes} == {n.properties.name for n in nodes}

    # The SDK sends Accept: application/json, so the kubeconfig comes as a JSON object (the
    # format follows Accept, per k8s_kubeconfig_get's docs): read the raw body.
    kubeconfig = k8s.k8s_kubeconfig_get(cluster.id, _preload_content=False).data
    parsed = json.loads(kubeconfig)
    assert parsed["clusters"][0]["cluster"]["server"] == KUBE_URL
    assert parsed["users"][0]["user"]["token"] == "kube-token"
    assert parsed["current-context"] == parsed["contexts"][0]["name"]


def test_kubeconfig_is_raw_yaml(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    cluster = ionoscloud.KubernetesApi(client).k8s_post(cluster_body())
    status, headers, body = raw(f"{sandbox.cloud_url}/k8s/{cluster.id}/kubeconfig",
                                headers=bearer())
    assert status == 200 and headers["Content-Type"] == "application/yaml"
    assert yaml.safe_load(body)["kind"] == "Config"


def test_nodepool_scale_and_upgrade_updates_nodes(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    dc = make_datacenter(client)
    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(cluster_body())
    pool = k8s.k8s_nodepools_post(cluster.id, pool_body(dc.id, nodes=1))
    put = ionoscloud.KubernetesNodePoolForPut(
        properties=ionoscloud.KubernetesNodePoolPropertiesForPut(node_count=3,
                                                                 k8s_version="1.32.6"))
    updated = k8s.k8s_nodepools_put(cluster.id, pool.id, put)
    assert updated.metadata.state == "UPDATING" and updated.properties.node_count == 3
    assert len(k8s.k8s_nodepools_nodes_get(cluster.id, pool.id).items) == 3
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (
            sandbox.pool_updates and len(sandbox.pool_updates[-1][1]) == 3
            and all(n["ready"] for n in sandbox.pool_updates[-1][1])):
        time.sleep(0.05)
    assert len(sandbox.pool_updates[-1][1]) == 3
    with pytest.raises(ionoscloud.ApiException) as err:
        k8s.k8s_nodepools_put(cluster.id, pool.id, ionoscloud.KubernetesNodePoolForPut(
            properties=ionoscloud.KubernetesNodePoolPropertiesForPut(node_count=2,
                                                                     k8s_version="1.33.2")))
    assert err.value.status == 422 and "never past the cluster's 1.32.6" in err.value.body
    k8s.k8s_nodepools_delete(cluster.id, pool.id)
    with pytest.raises(ionoscloud.ApiException) as err:
        k8s.k8s_nodepools_find_by_id(cluster.id, pool.id)
    assert err.value.status == 404
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sandbox.pool_updates[-1][1]:
        time.sleep(0.05)
    assert sandbox.pool_updates[-1] == ("workers", [])


def test_cluster_update_and_delete_states(slow_sandbox: Sandbox, clock: Clock) -> None:
    import ionoscloud

    client = cloud(slow_sandbox)
    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(cluster_body())
    clock.advance()
    wait_state(lambda: k8s.k8s_find_by_cluster_id(cluster.id), "ACTIVE")
    put = ionoscloud.KubernetesClusterForPut(
        properties=ionoscloud.KubernetesClusterPropertiesForPut(name="k8s-test",
                                                                k8s_version="1.33.2"))
    assert k8s.k8s_put(cluster.id, put).metadata.state == "UPDATING"
    assert k8s.k8s_find_by_cluster_id(cluster.id).metadata.state == "UPDATING"
    clock.advance()
    cluster = wait_state(lambda: k8s.k8s_find_by_cluster_id(cluster.id), "ACTIVE")
    assert cluster.properties.k8s_version == "1.33.2"
    _, status, headers = k8s.k8s_delete_with_http_info(cluster.id)
    assert status == 202 and "/requests/" in headers["Location"]
    assert k8s.k8s_find_by_cluster_id(cluster.id).metadata.state == "DESTROYING"
    clock.advance(SLOW_DELAY - 1)
    assert k8s.k8s_find_by_cluster_id(cluster.id).metadata.state == "DESTROYING"
    clock.advance(2)
    with pytest.raises(ionoscloud.ApiException) as gone:
        k8s.k8s_find_by_cluster_id(cluster.id)
    assert gone.value.status == 404
    assert k8s.k8s_get(depth=1).items == []


def test_versions_and_locations(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    k8s = ionoscloud.KubernetesApi(client)
    versions = k8s.k8s_versions_get()
    assert "1.32.6" in versions and any(v.startswith("1.31.") for v in versions)
    assert any(v.startswith("1.33.") for v in versions)
    assert k8s.k8s_versions_default_get() in versions
    locations = ionoscloud.LocationsApi(client).locations_get(depth=1)
    assert "de/fra" in {loc.id for loc in locations.items}


def test_basic_auth_and_401s(sandbox: Sandbox) -> None:
    import ionoscloud

    basic = cloud(sandbox, username=USER, password=PASSWORD)
    make_datacenter(basic)
    assert len(ionoscloud.DataCentersApi(basic).datacenters_get().items) == 1
    for cfg in ({"username": USER, "password": "wrong"}, {"token": "wrong"}, {}):
        client = cloud(sandbox, **cfg) if cfg else _anonymous(sandbox)
        with pytest.raises(ionoscloud.ApiException) as err:
            ionoscloud.DataCentersApi(client).datacenters_get()
        assert err.value.status == 401
        body = json.loads(err.value.body)
        assert body["httpStatus"] == 401 and body["messages"][0]["errorCode"]


def _anonymous(sb: Sandbox) -> Any:
    import ionoscloud

    return ionoscloud.ApiClient(ionoscloud.Configuration(host=sb.cloud_url))


def test_depth_zero_vs_one(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    dc = make_datacenter(client, "depth")
    ionoscloud.LANsApi(client).datacenters_lans_post(dc.id, ionoscloud.Lan(
        properties=ionoscloud.LanProperties(name="a")))
    api = ionoscloud.DataCentersApi(client)
    shallow = api.datacenters_get(depth=0).items[0]
    assert shallow.id == dc.id and shallow.properties is None and shallow.metadata is None
    assert shallow.href.endswith(f"/datacenters/{dc.id}")
    deep = api.datacenters_get(depth=1).items[0]
    assert deep.properties.name == "depth" and deep.metadata.state == "AVAILABLE"
    assert deep.entities.lans.items is None
    one = api.datacenters_find_by_id(dc.id, depth=1)
    assert one.entities.lans.items[0].id == "1" and one.entities.lans.items[0].properties is None
    two = api.datacenters_find_by_id(dc.id, depth=2)
    assert two.entities.lans.items[0].properties.name == "a"


def test_pagination_links(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    for i in range(5):
        make_datacenter(client, f"dc-{i}")
    api = ionoscloud.DataCentersApi(client)
    page = api.datacenters_get(depth=1, offset=2, limit=2)
    assert [d.properties.name for d in page.items] == ["dc-2", "dc-3"]
    assert page.offset == 2 and page.limit == 2
    assert "offset=4" in page.links.next and "offset=0" in page.links.prev
    last = api.datacenters_get(offset=4, limit=2)
    assert len(last.items) == 1 and last.links.next is None
    status, _, body = raw(f"{sandbox.cloud_url}/k8s", headers=bearer())
    assert status == 200 and "offset" not in json.loads(body)  # k8s lists are not paginated


def test_error_bodies(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.DataCentersApi(client).datacenters_find_by_id("00000000-0000-0000-0000-0")
    assert err.value.status == 404
    body = json.loads(err.value.body)
    assert body["httpStatus"] == 404 and "does not exist" in body["messages"][0]["message"]

    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.DataCentersApi(client).datacenters_post(ionoscloud.DatacenterPost(
            properties=ionoscloud.DatacenterPropertiesPost(name="no-location")))
    assert err.value.status == 422 and "location" in err.value.body

    dc = make_datacenter(client)
    cluster = ionoscloud.KubernetesApi(client).k8s_post(cluster_body())
    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.KubernetesApi(client).k8s_nodepools_post(cluster.id, pool_body(dc.id, ram=3000))
    assert err.value.status == 422 and "multiple of 1024" in err.value.body
    with pytest.raises(ionoscloud.ApiException) as err:
        ionoscloud.KubernetesApi(client).k8s_nodepools_post(cluster.id,
                                                            pool_body(dc.id, lan_id=7))
    assert err.value.status == 422 and "LAN 7" in err.value.body

    url = f"{sandbox.cloud_url}/datacenters"
    status, _, body = raw(url, "POST", b"{not json", bearer())
    assert status == 400 and json.loads(body)["httpStatus"] == 400
    status, _, body = raw(url, "POST", b"name=x", {**bearer(), "Content-Type": "text/plain"})
    assert status == 415 and json.loads(body)["httpStatus"] == 415
    status, _, body = raw(url + f"/{dc.id}", "POST", b"{}", bearer())
    assert status == 405
    status, _, body = raw(f"{sandbox.cloud_url}/nothing-here", headers=bearer())
    assert status == 404 and json.loads(body)["messages"]


def test_etag_if_match(sandbox: Sandbox) -> None:
    client = cloud(sandbox)
    dc = make_datacenter(client)
    url = f"{sandbox.cloud_url}/datacenters/{dc.id}"
    status, headers, body = raw(url, headers=bearer())
    etag = json.loads(body)["metadata"]["etag"]
    assert headers["ETag"] == f'"{etag}"'
    patch = json.dumps({"description": "x"}).encode()
    status, _, body = raw(url, "PATCH", patch, {**bearer(), "If-Match": '"stale"'})
    assert status == 412 and json.loads(body)["httpStatus"] == 412
    status, headers, body = raw(url, "PATCH", patch, {**bearer(), "If-Match": f'"{etag}"'})
    assert status == 202 and "/requests/" in headers["Location"]
    assert json.loads(body)["metadata"]["etag"] != etag


def test_volume_snapshots(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    dc = make_datacenter(client)
    volumes = ionoscloud.VolumesApi(client)
    vol, _, headers = volumes.datacenters_volumes_post_with_http_info(dc.id, ionoscloud.Volume(
        properties=ionoscloud.VolumeProperties(name="data", size=50, type="SSD Standard",
                                               licence_type="LINUX")))
    client.wait_for_completion(request_id(headers), initial_wait=0.05)
    snap, status, headers = volumes.datacenters_volumes_create_snapshot_post_with_http_info(
        dc.id, vol.id, snapshot=ionoscloud.CreateSnapshot(
            properties=ionoscloud.CreateSnapshotProperties(name="nightly", description="d")))
    assert status == 202 and snap.properties.name == "nightly"
    assert snap.properties.size == 50 and snap.properties.location == "de/fra"
    client.wait_for_completion(request_id(headers), initial_wait=0.05)

    form = b"name=form-snap&description=old-sdk&secAuthProtection=false&licenceType=LINUX"
    status, headers, body = raw(
        f"{sandbox.cloud_url}/datacenters/{dc.id}/volumes/{vol.id}/create-snapshot", "POST",
        form, {**bearer(), "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 202 and json.loads(body)["properties"]["name"] == "form-snap"

    snapshots = ionoscloud.SnapshotsApi(client)
    listed = snapshots.snapshots_get(depth=1)
    assert {s.properties.name for s in listed.items} == {"nightly", "form-snap"}
    patched = snapshots.snapshots_patch(snap.id, ionoscloud.SnapshotProperties(name="renamed"))
    assert patched.properties.name == "renamed"

    _, status, headers = volumes.datacenters_volumes_restore_snapshot_post_with_http_info(
        dc.id, vol.id, restore_snapshot=ionoscloud.RestoreSnapshot(
            properties=ionoscloud.RestoreSnapshotProperties(snapshot_id=snap.id)))
    assert status == 202
    client.wait_for_completion(request_id(headers), initial_wait=0.05)
    with pytest.raises(ionoscloud.ApiException) as err:
        volumes.datacenters_volumes_restore_snapshot_post(
            dc.id, vol.id, restore_snapshot=ionoscloud.RestoreSnapshot(
                properties=ionoscloud.RestoreSnapshotProperties(snapshot_id="missing")))
    assert err.value.status == 404

    snapshots.snapshots_delete(snap.id)
    with pytest.raises(ionoscloud.ApiException) as err:
        snapshots.snapshots_find_by_id(snap.id)
    assert err.value.status == 404
    assert len(snapshots.snapshots_get().items) == 1


def test_world_volume_hooks(sandbox: Sandbox) -> None:
    import ionoscloud

    assert sandbox.world.provision_volume is not None and sandbox.world.volume_exists is not None
    vid = sandbox.world.provision_volume("pvc-1234", 8)
    assert sandbox.world.volume_exists(vid) and not sandbox.world.volume_exists("nope")
    client = cloud(sandbox)
    dc = ionoscloud.DataCentersApi(client).datacenters_get(depth=1).items[0]
    vol = ionoscloud.VolumesApi(client).datacenters_volumes_find_by_id(dc.id, vid)
    assert vol.properties.name == "pvc-1234" and vol.properties.size == 8
    assert vol.metadata.state == "AVAILABLE"
    # The CSI driver's ControllerExpandVolume grows the volume; IONOS refuses a smaller size.
    assert sandbox.world.resize_volume is not None
    sandbox.world.resize_volume(vid, 12)
    sandbox.world.resize_volume(vid, 10)
    vol = ionoscloud.VolumesApi(client).datacenters_volumes_find_by_id(dc.id, vid)
    assert vol.properties.size == 12
    ionoscloud.VolumesApi(client).datacenters_volumes_delete(dc.id, vid)
    assert not sandbox.world.volume_exists(vid)
    with pytest.raises(LookupError, match=vid):
        sandbox.world.resize_volume(vid, 20)


def test_requests_list_and_get(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    dc, _, headers = ionoscloud.DataCentersApi(client).datacenters_post_with_http_info(
        ionoscloud.DatacenterPost(properties=ionoscloud.DatacenterPropertiesPost(
            name="r", location="de/txl")))
    rid = request_id(headers)
    requests_api = ionoscloud.RequestsApi(client)
    one = requests_api.requests_find_by_id(rid, depth=1)
    assert one.properties.method == "POST" and '"de/txl"' in one.properties.body
    assert "authorization" not in {k.lower() for k in one.properties.headers}
    assert one.metadata.request_status.metadata.status == "DONE"
    status = requests_api.requests_status_get(rid)
    assert status.metadata.targets[0].target.id == dc.id
    listed = requests_api.requests_get(depth=2, filter_status="DONE", filter_method="POST")
    assert [r.id for r in listed.items] == [rid]


def test_injected_failure(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    sandbox.ionos.fail_next("k8s")
    cluster, _, headers = ionoscloud.KubernetesApi(client).k8s_post_with_http_info(cluster_body())
    with pytest.raises(ionoscloud.exceptions.ApiFailedRequest):
        client.wait_for_completion(request_id(headers), initial_wait=0.05)
    assert ionoscloud.KubernetesApi(client).k8s_find_by_cluster_id(cluster.id).metadata.state \
        == "FAILED"
    with pytest.raises(ValueError):
        sandbox.ionos.fail_next("spaceship")


def test_429_is_retried_by_the_sdk(sandbox: Sandbox) -> None:
    import ionoscloud

    client = cloud(sandbox)
    make_datacenter(client)
    before = COUNTER.snapshot().get("ionos", {}).get("GET", 0)
    FAULTS.set("ionos", FaultConfig(error_rate=1.0, statuses=[429], retry_after=1, times=1))
    try:
        started = time.monotonic()
        listed = ionoscloud.DataCentersApi(client).datacenters_get(depth=1)
        elapsed = time.monotonic() - started
    finally:
        FAULTS.set("ionos", None)
    assert len(listed.items) == 1
    assert COUNTER.snapshot()["ionos"]["GET"] - before == 2  # one 429, one success
    assert elapsed >= 0.9  # the SDK slept the Retry-After second

    FAULTS.set("ionos", FaultConfig(error_rate=1.0, statuses=[429], retry_after=0))
    try:
        client.configuration.max_retries = 2
        with pytest.raises(ionoscloud.ApiException) as err:
            ionoscloud.DataCentersApi(client).datacenters_get()
    finally:
        FAULTS.set("ionos", None)
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "0"
    assert json.loads(err.value.body)["httpStatus"] == 429


def test_state_survives_restart(tmp_path: Path) -> None:
    import ionoscloud
    import ionoscloud_cert_manager as cm
    import ionoscloud_dbaas_mariadb as mdb

    first = Sandbox(state_dir=tmp_path)
    try:
        dc = make_datacenter(cloud(first), "persisted")
        cluster_id = ionoscloud.KubernetesApi(cloud(first)).k8s_post(cluster_body()).id
        db_id = sdk(mdb.ClustersApi, mariadb_client(first)).clusters_post(mariadb_create_body()).id
        pem, _ = make_cert("persisted.example.com", days=3)
        cert_id = first.certs.add_certificate("persisted", pem, pem)
    finally:
        first.stop()
    assert {p.name for p in tmp_path.iterdir()} == {"ionos.json", "mariadb.json",
                                                    "certmanager.json"}
    second = Sandbox(state_dir=tmp_path)
    try:
        client = cloud(second)
        assert ionoscloud.DataCentersApi(client).datacenters_find_by_id(dc.id).properties.name \
            == "persisted"
        assert ionoscloud.KubernetesApi(client).k8s_find_by_cluster_id(cluster_id) \
            .metadata.state == "ACTIVE"
        lan = ionoscloud.LANsApi(client).datacenters_lans_post(dc.id, ionoscloud.Lan(
            properties=ionoscloud.LanProperties(name="after-restart")))
        assert lan.id == "1"
        db = sdk(mdb.ClustersApi, mariadb_client(second)).clusters_find_by_id(db_id)
        assert db.metadata.state == "AVAILABLE" and db.properties.name == "wordpress-db"
        cert = sdk(cm.CertificateApi, cert_client(second)).certificates_find_by_id(cert_id)
        assert cert.metadata.common_name == "persisted.example.com"
    finally:
        second.stop()


def mariadb_create_body(name: str = "wordpress-db", user: str = "wpuser",
                        password: str = "s3cret-passw0rd", database: str = "wordpress") -> Any:
    import ionoscloud_dbaas_mariadb as mdb

    return mdb.ClusterCreate(properties=mdb.ClusterCreateProperties(
        name=name, version="10.11",
        instances=mdb.InstanceConfiguration(count=1, ram=4, cores=2, storage_size=20),
        connection=mdb.MariadbClusterConnection(
            datacenter_id="7a0b4f3c-0000-4000-8000-000000000001", lan_id="1",
            primary_instance_address="10.7.222.100/24"),
        maintenance_window=mdb.MaintenanceWindow(time="09:00:00", day_of_the_week="Sunday"),
        credentials=mdb.MariadbUser(username=user, password=password, database=database)))


def mariadb_client(sb: Sandbox) -> Any:
    import ionoscloud_dbaas_mariadb as mdb

    return mdb.ApiClient(mdb.Configuration(host=sb.mariadb_url, token=TOKEN))


def test_mariadb_cluster_lifecycle(slow_sandbox: Sandbox, clock: Clock) -> None:
    import ionoscloud_dbaas_mariadb as mdb

    sb = slow_sandbox
    client = mariadb_client(sb)
    clusters = sdk(mdb.ClustersApi, client)
    created = clusters.clusters_post_with_http_info(mariadb_create_body())
    assert created.status_code == 201
    cluster = created.data
    assert cluster.metadata.state == mdb.MariadbClusterStates.PROVISIONING
    assert cluster.metadata.dns_name == f"ma-{cluster.id[:8]}.mariadb.de-fra.ionos.com"
    assert cluster.properties.connection.lan_id == "1"
    assert cluster.properties.credentials.password is None  # write-only

    assert clusters.clusters_find_by_id(cluster.id).metadata.state == "PROVISIONING"
    clock.advance()
    assert clusters.clusters_find_by_id(cluster.id).metadata.state == "AVAILABLE"
    clusters.clusters_post(mariadb_create_body(name="other-db"))
    listed = clusters.clusters_get(filter_name="wordpress")
    assert [c.id for c in listed.items] == [cluster.id] and listed.offset == 0
    assert len(clusters.clusters_get(limit=1).items) == 1

    backups = sdk(mdb.BackupsApi, client).backups_get(filter_cluster_id=cluster.id)
    assert len(backups.items) == 1
    backup = backups.items[0]
    assert backup.properties.cluster_id == cluster.id
    assert backup.properties.earliest_recovery_target_time is not None
    assert backup.properties.latest_recovery_target_time is None
    assert sdk(mdb.BackupsApi, client).backups_find_by_id(backup.id).id == backup.id

    ensure = mdb.ClusterEnsure(id=cluster.id, properties=mdb.Cluster(
        name="wordpress-db", instances=mdb.InstanceConfiguration(count=1, ram=8, cores=2,
                                                                 storage_size=40)))
    updated = clusters.clusters_put_with_http_info(cluster.id, ensure)
    assert updated.status_code == 200 and updated.data.metadata.state == "UPDATING"
    assert updated.data.properties.instances.ram == 8

    locations = sdk(mdb.BackupLocationsApi, client).backuplocations_get()
    assert "de" in {loc.id for loc in locations.items}
    versions = sdk(mdb.VersionsApi, client).versions_get()
    assert {"10.6", "10.11"} <= {v.properties.version for v in versions.items}

    deleted = clusters.clusters_delete_with_http_info(cluster.id)
    assert deleted.status_code == 202
    assert clusters.clusters_find_by_id(cluster.id).metadata.state == "DESTROYING"
    clock.advance()
    with pytest.raises(mdb.exceptions.NotFoundException):
        clusters.clusters_find_by_id(cluster.id)
    assert len(sdk(mdb.BackupsApi, client).backups_get(filter_cluster_id=cluster.id).items) == 1


def test_dbaas_and_certificate_manager_take_basic_auth(sandbox: Sandbox) -> None:
    """The real DBaaS MariaDB and Certificate Manager APIs take Basic auth: their Node SDKs
    document ``new Configuration({username, password})`` (npm @ionos-cloud/sdk-nodejs-dbaas-mariadb
    and @ionos-cloud/sdk-nodejs-cert-manager READMEs). The generated Python SDKs send no header
    for a username, so the header is set on the client as the product does; a wrong password is
    a 401 with the IONOS error body."""
    import base64

    import ionoscloud_cert_manager as cm
    import ionoscloud_dbaas_mariadb as mdb

    def basic(sdk: Any, url: str, password: str) -> Any:
        client = sdk.ApiClient(sdk.Configuration(host=url))
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        client.set_default_header("Authorization", f"Basic {token}")
        return client

    assert sdk(mdb.ClustersApi, basic(mdb, sandbox.mariadb_url, PASSWORD)).clusters_get()
    assert sdk(cm.CertificateApi, basic(cm, sandbox.certs_url, PASSWORD)).certificates_get()
    with pytest.raises(mdb.exceptions.UnauthorizedException) as err:
        sdk(mdb.ClustersApi, basic(mdb, sandbox.mariadb_url, "wrong")).clusters_get()
    assert json.loads(err.value.body)["httpStatus"] == 401
    with pytest.raises(cm.exceptions.UnauthorizedException):
        sdk(cm.CertificateApi, basic(cm, sandbox.certs_url, "wrong")).certificates_get()


def test_mariadb_errors(sandbox: Sandbox) -> None:
    import ionoscloud_dbaas_mariadb as mdb

    anonymous = mdb.ApiClient(mdb.Configuration(host=sandbox.mariadb_url, username="u",
                                                password="p"))
    with pytest.raises(mdb.exceptions.UnauthorizedException) as err:
        sdk(mdb.ClustersApi, anonymous).clusters_get()
    assert err.value.status == 401
    client = mariadb_client(sandbox)
    body = mariadb_create_body()
    body.properties.version = "9.9"
    with pytest.raises(mdb.exceptions.UnprocessableEntityException) as invalid:
        sdk(mdb.ClustersApi, client).clusters_post(body)
    assert "version" in str(invalid.value.body)
    with pytest.raises(mdb.exceptions.NotFoundException):
        sdk(mdb.ClustersApi, client).clusters_find_by_id("missing")
    status, _, raw_body = raw(f"{sandbox.mariadb_url}/clusters", "POST", b"{",
                              bearer())
    assert status == 400 and json.loads(raw_body)["httpStatus"] == 400


def _mariadb_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=1).close()
        return True
    except OSError:
        return False


def test_mariadb_cluster_on_a_real_server(sandbox: Sandbox) -> None:
    import ionoscloud_dbaas_mariadb as mdb
    import pymysql

    if not _mariadb_reachable():
        missing_service("no MariaDB server on 127.0.0.1:3306 to back the DBaaS emulator: "
                        "apt-get install mariadb-server")
    sandbox.world.mariadb_host = "127.0.0.1"
    client = mariadb_client(sandbox)
    cluster = sdk(mdb.ClustersApi, client).clusters_post(mariadb_create_body(
        name="real-db", user="sbx_test_user", password="Sandbox-pw-123", database="sbx_test_db"))
    found = sdk(mdb.ClustersApi, client).clusters_find_by_id(cluster.id)
    assert found.metadata.state == "AVAILABLE", found.metadata.status_message
    assert found.metadata.dns_name == "127.0.0.1"
    conn = pymysql.connect(host=found.metadata.dns_name, port=sandbox.world.mariadb_port,
                           user="sbx_test_user", password="Sandbox-pw-123",
                           database="sbx_test_db", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == ("sbx_test_db",)
    finally:
        conn.close()


def make_cert(common_name: str, days: int, start_days_ago: int = 1) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=start_days_ago)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(common_name), x509.DNSName(f"www.{common_name}")]), False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def cert_client(sb: Sandbox) -> Any:
    import ionoscloud_cert_manager as cm

    return cm.ApiClient(cm.Configuration(host=sb.certs_url, token=TOKEN))


def test_certificates_crud_with_expiry(sandbox: Sandbox) -> None:
    import ionoscloud_cert_manager as cm

    api = sdk(cm.CertificateApi, cert_client(sandbox))
    pem, key = make_cert("shop.example.com", days=20)
    created = api.certificates_post_with_http_info(cm.CertificateCreate(properties=cm.Certificate(
        name="shop", certificate=pem, certificate_chain=pem, private_key=key)))
    assert created.status_code == 201
    cert = created.data
    assert cert.properties.private_key is None  # write-only
    assert cert.metadata.common_name == "shop.example.com"
    assert cert.metadata.subject_alternative_names == ["shop.example.com", "www.shop.example.com"]
    assert cert.metadata.expired is False
    remaining = cert.metadata.not_after - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=18) < remaining < dt.timedelta(days=19, hours=1)

    old_pem, old_key = make_cert("old.example.com", days=10, start_days_ago=30)
    old = api.certificates_post(cm.CertificateCreate(properties=cm.Certificate(
        name="old", certificate=old_pem, certificate_chain=old_pem, private_key=old_key)))
    assert old.metadata.expired is True

    listed = api.certificates_get()
    assert {c.properties.name for c in listed.items} == {"shop", "old"}
    assert [c.id for c in api.certificates_get(filter_common_name="shop.example.com").items] \
        == [cert.id]
    renamed = api.certificates_patch(cert.id, cm.CertificatePatch(properties=cm.PatchName(
        name="shop-2026")))
    assert renamed.properties.name == "shop-2026"
    assert api.certificates_find_by_id(cert.id).metadata.serial_number == \
        cert.metadata.serial_number
    assert api.certificates_delete_with_http_info(cert.id).status_code == 202
    with pytest.raises(cm.exceptions.NotFoundException):
        api.certificates_find_by_id(cert.id)


def test_certificate_errors_and_seed(sandbox: Sandbox) -> None:
    import ionoscloud_cert_manager as cm

    pem, _ = make_cert("a.example.com", days=5)
    _, other_key = make_cert("b.example.com", days=5)
    api = sdk(cm.CertificateApi, cert_client(sandbox))
    with pytest.raises(cm.exceptions.UnprocessableEntityException) as err:
        api.certificates_post(cm.CertificateCreate(properties=cm.Certificate(
            name="bad", certificate=pem, certificate_chain=pem, private_key=other_key)))
    assert "does not match" in str(err.value.body)
    with pytest.raises(cm.exceptions.UnprocessableEntityException):
        api.certificates_post(cm.CertificateCreate(properties=cm.Certificate(
            name="bad", certificate="not a pem", private_key=other_key)))
    anonymous = cm.ApiClient(cm.Configuration(host=sandbox.certs_url))
    with pytest.raises(cm.exceptions.UnauthorizedException):
        sdk(cm.CertificateApi, anonymous).certificates_get()

    seeded = sandbox.certs.add_certificate("seeded", pem, pem)
    got = api.certificates_find_by_id(seeded)
    assert got.metadata.common_name == "a.example.com" and got.properties.name == "seeded"


def test_providers_and_auto_certificates(sandbox: Sandbox) -> None:
    import ionoscloud_cert_manager as cm

    client = cert_client(sandbox)
    provider = sdk(cm.ProviderApi, client).providers_post(cm.ProviderCreate(properties=cm.Provider(
        name="letsencrypt", email="ops@example.com",
        server="https://acme-v02.api.letsencrypt.org/directory")))
    auto = sdk(cm.AutoCertificateApi, client).auto_certificates_post(cm.AutoCertificateCreate(
        properties=cm.AutoCertificate(provider=provider.id, common_name="blog.example.com",
                                      key_algorithm="ecdsa256", name="blog")))
    issued_id = auto.metadata.last_issued_certificate
    issued = sdk(cm.CertificateApi, client).certificates_find_by_id(issued_id)
    assert issued.metadata.auto_certificate == auto.id
    assert issued.metadata.common_name == "blog.example.com"
    listed = sdk(cm.CertificateApi, client).certificates_get(filter_auto_certificate=auto.id)
    assert [c.id for c in listed.items] == [issued_id]
    with pytest.raises(cm.ApiException) as err:
        sdk(cm.ProviderApi, client).providers_delete(provider.id)
    assert err.value.status == 409
    sdk(cm.AutoCertificateApi, client).auto_certificates_delete(auto.id)
    sdk(cm.ProviderApi, client).providers_delete(provider.id)
    assert sdk(cm.ProviderApi, client).providers_get().items == []

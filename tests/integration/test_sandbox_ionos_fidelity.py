"""IONOS Cloud API details of the sandbox against their documented contract, with the real SDK:
list filters, orderBy and maxResults; Kubernetes version and name rules; the kubeconfig's format;
labels and contracts; where the ETag header is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.integration import test_sandbox_ionos as base

pytestmark = pytest.mark.integration


@pytest.fixture
def ionos() -> Iterator[base.Sandbox]:
    sb = base.Sandbox()
    yield sb
    sb.stop()


def names(collection: Any) -> list[str]:
    return [item.properties.name for item in collection.items]


def test_list_filters_order_and_max_results(ionos) -> None:
    """sdk-go api_data_centers.go (generated from the Cloud API's OpenAPI document): Filter
    "limit[s] results to those containing a matching value for a specific property", OrderBy
    "sorts the results alphanumerically in ascending order based on the specified property",
    MaxResults "limits the number of results returned". The Python SDK passes them through
    ``query_params``; ionosctl documents properties and metadata as filterable."""
    import ionoscloud

    client = base.cloud(ionos)
    for name, location in [("web-b", "de/fra"), ("db", "de/txl"), ("web-a", "de/txl"),
                           ("Web-C", "gb/lhr")]:
        base.make_datacenter(client, name, location)
    api = ionoscloud.DataCentersApi(client)
    assert sorted(names(api.datacenters_get(depth=1, query_params={"filter.name": "web"}))) \
        == ["Web-C", "web-a", "web-b"], "contains, case-insensitive"
    assert names(api.datacenters_get(depth=1, query_params={
        "filter.name": "web", "filter.location": "de/txl"})) == ["web-a"], "filters AND"
    assert names(api.datacenters_get(depth=1, query_params={"orderBy": "name"})) == [
        "Web-C", "db", "web-a", "web-b"]
    assert names(api.datacenters_get(depth=1, query_params={
        "orderBy": "name", "maxResults": 2})) == ["Web-C", "db"]
    assert names(api.datacenters_get(depth=1, query_params={
        "filter.state": "available", "filter.name": "db"})) == ["db"], "metadata is filterable"
    assert api.datacenters_get(depth=1, query_params={"filter.name": "nothing"}).items == []
    # Offset/limit page what the filters selected (datacenters are a paginated list).
    page = api.datacenters_get(depth=1, offset=1, limit=1,
                               query_params={"filter.name": "web", "orderBy": "name"})
    assert names(page) == ["web-a"] and page.offset == 1 and page.limit == 1
    status, _, body = base.raw(f"{ionos.cloud_url}/datacenters?maxResults=many",
                               headers=base.bearer())
    assert status == 422 and json.loads(body)["messages"][0]["message"]


def test_filters_on_lists_without_offset_and_on_requests(ionos) -> None:
    """The same parameters on the k8s list (no offset/limit there) and on /requests, whose
    ``filter.method`` the SDK documents as "not case-sensitive"."""
    import ionoscloud

    client = base.cloud(ionos)
    k8s = ionoscloud.KubernetesApi(client)
    for name in ("beta", "alpha", "gamma"):
        k8s.k8s_post(base.cluster_body(name))
    assert names(k8s.k8s_get(depth=1, query_params={"orderBy": "name", "maxResults": 2})) == [
        "alpha", "beta"]
    assert names(k8s.k8s_get(depth=1, query_params={"filter.name": "AMM"})) == ["gamma"]
    requests = ionoscloud.RequestsApi(client).requests_get(depth=1, filter_method="post")
    assert len(requests.items) == 3
    assert all(r.properties.method == "POST" for r in requests.items)


def test_cluster_upgrades_one_minor_at_a_time(ionos) -> None:
    """KubernetesClusterPropertiesForPut.k8s_version: "not all Kubernetes versions are suitable
    upgrade targets"; the cluster lists them in ``availableUpgradeVersions``. Kubernetes'
    version skew policy: a control plane upgrades one minor version at a time."""
    import ionoscloud

    client = base.cloud(ionos)
    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(ionoscloud.KubernetesClusterForPost(
        properties=ionoscloud.KubernetesClusterPropertiesForPost(name="old",
                                                                 k8s_version="1.31.9")))
    cluster = k8s.k8s_find_by_cluster_id(cluster.id)
    assert cluster.properties.available_upgrade_versions == ["1.32.6"]
    assert cluster.properties.viable_node_pool_versions == ["1.31.9"]

    def put(version: str) -> Any:
        return k8s.k8s_put(cluster.id, ionoscloud.KubernetesClusterForPut(
            properties=ionoscloud.KubernetesClusterPropertiesForPut(name="old",
                                                                    k8s_version=version)))

    with pytest.raises(ionoscloud.ApiException) as err:
        put("1.33.2")  # two minors at once
    assert err.value.status == 422 and "availableUpgradeVersions ['1.32.6']" in err.value.body
    assert put("1.32.6").properties.k8s_version == "1.32.6"
    with pytest.raises(ionoscloud.ApiException) as err:
        put("1.31.9")  # never down
    assert err.value.status == 422
    after = k8s.k8s_find_by_cluster_id(cluster.id).properties
    assert after.available_upgrade_versions == ["1.33.2"]
    assert after.viable_node_pool_versions == ["1.31.9", "1.32.6"]


def test_node_pools_follow_their_cluster(ionos) -> None:
    """KubernetesNodePoolPropertiesForPut.k8s_version: the cluster's version "limits which
    Kubernetes versions can run in a cluster's node pools" (its ``viableNodePoolVersions``);
    a pool is never newer than its cluster and upgrades one minor at a time."""
    import ionoscloud

    client = base.cloud(ionos)
    dc = base.make_datacenter(client)
    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(ionoscloud.KubernetesClusterForPost(
        properties=ionoscloud.KubernetesClusterPropertiesForPost(name="c",
                                                                 k8s_version="1.31.9")))
    body = base.pool_body(dc.id, nodes=1)
    body.properties.k8s_version = "1.32.6"
    with pytest.raises(ionoscloud.ApiException) as err:
        k8s.k8s_nodepools_post(cluster.id, body)
    assert err.value.status == 422 and "viableNodePoolVersions ['1.31.9']" in err.value.body
    body.properties.k8s_version = "1.31.9"
    pool = k8s.k8s_nodepools_post(cluster.id, body)
    assert k8s.k8s_nodepools_find_by_id(cluster.id, pool.id).properties \
        .available_upgrade_versions == []
    for version in ("1.32.6", "1.33.2"):
        k8s.k8s_put(cluster.id, ionoscloud.KubernetesClusterForPut(
            properties=ionoscloud.KubernetesClusterPropertiesForPut(name="c",
                                                                    k8s_version=version)))
    # The cluster is on 1.33: the pool (1.31) may still run, but moves one minor at a time.
    found = k8s.k8s_nodepools_find_by_id(cluster.id, pool.id)
    assert found.properties.available_upgrade_versions == ["1.32.6"]

    def put(version: str) -> Any:
        return k8s.k8s_nodepools_put(cluster.id, pool.id, ionoscloud.KubernetesNodePoolForPut(
            properties=ionoscloud.KubernetesNodePoolPropertiesForPut(node_count=1,
                                                                     k8s_version=version)))

    with pytest.raises(ionoscloud.ApiException) as err:
        put("1.33.2")
    assert err.value.status == 422 and "availableUpgradeVersions ['1.32.6']" in err.value.body
    assert put("1.32.6").properties.k8s_version == "1.32.6"
    # An upgrade locks the pool until its nodes are replaced (how-tos/upgrade-node-pools).
    base.wait_state(lambda: k8s.k8s_nodepools_find_by_id(cluster.id, pool.id), "ACTIVE")
    assert put("1.33.2").properties.k8s_version == "1.33.2"


@pytest.mark.parametrize("name, ok", [
    ("Workers_1.b", True), ("a", True), ("x" * 63, True), ("x" * 64, False),
    ("-workers", False), ("workers.", False), ("wörkers", False), ("two words", False),
])
def test_cluster_and_node_pool_name_rules(ionos, name, ok) -> None:
    """KubernetesClusterProperties.name and KubernetesNodePoolProperties.name (SDK model docs):
    "63 characters or less and must be empty or begin and end with an alphanumeric character
    ([a-z0-9A-Z]) with dashes (-), underscores (_), dots (.), and alphanumerics between"."""
    import ionoscloud

    client = base.cloud(ionos)
    k8s = ionoscloud.KubernetesApi(client)
    dc = base.make_datacenter(client)
    cluster = k8s.k8s_post(base.cluster_body())
    body = base.pool_body(dc.id, nodes=1)
    body.properties.name = name
    if ok:
        assert k8s.k8s_post(base.cluster_body(name)).properties.name == name
        assert k8s.k8s_nodepools_post(cluster.id, body).properties.name == name
        return
    for call in (lambda: k8s.k8s_post(base.cluster_body(name)),
                 lambda: k8s.k8s_nodepools_post(cluster.id, body)):
        with pytest.raises(ionoscloud.ApiException) as err:
            call()
        assert err.value.status == 422 and "63 characters or less" in err.value.body


def test_kubeconfig_format_follows_accept(ionos) -> None:
    """k8s_kubeconfig_get's docs: "You can define the format (YAML or JSON) of the returned file
    in the Accept header. By default, 'application/yaml' is specified." The SDK itself sends
    ``Accept: application/json`` (its select_header_accept prefers JSON)."""
    import ionoscloud

    client = base.cloud(ionos)
    cluster = ionoscloud.KubernetesApi(client).k8s_post(base.cluster_body())
    url = f"{ionos.cloud_url}/k8s/{cluster.id}/kubeconfig"
    for accept, content_type in [("application/json", "application/json"),
                                 ("application/yaml", "application/yaml"),
                                 ("application/x-yaml, application/json", "application/yaml"),
                                 ("*/*", "application/yaml"), ("", "application/yaml")]:
        headers = {**base.bearer(), **({"Accept": accept} if accept else {})}
        status, got, body = base.raw(url, headers=headers)
        assert status == 200 and got["Content-Type"] == content_type, accept
        config = json.loads(body) if content_type == "application/json" else yaml.safe_load(body)
        assert config["kind"] == "Config" and config["users"][0]["user"]["token"] == \
            "kube-token"
    raw_answer = ionoscloud.KubernetesApi(client).k8s_kubeconfig_get(
        cluster.id, _preload_content=False)
    assert raw_answer.headers["Content-Type"] == "application/json"


def test_etag_header_only_without_depth(ionos) -> None:
    """DatacenterElementMetadata.etag (SDK model docs): "Entity Tag is also added as an 'ETag'
    response header to requests which don't use 'depth' parameter"."""
    dc = base.make_datacenter(base.cloud(ionos))
    url = f"{ionos.cloud_url}/datacenters/{dc.id}"
    _, headers, body = base.raw(url, headers=base.bearer())
    assert headers["ETag"] == f'"{json.loads(body)["metadata"]["etag"]}"'
    for depth in ("0", "1"):
        status, headers, body = base.raw(f"{url}?depth={depth}", headers=base.bearer())
        assert status == 200 and "ETag" not in headers
        assert json.loads(body)["metadata"]["etag"]


def test_labels_on_resources_and_by_urn(ionos) -> None:
    """LabelsApi: ``/datacenters/{id}/labels[/{key}]`` (LabelResource: key and value),
    ``/labels`` and ``/labels/{labelurn}`` where the URN is
    ``urn:label:<resource_type>:<resource_uuid>:<key>`` (sdk-go docs/api/LabelsApi.md)."""
    import ionoscloud

    client = base.cloud(ionos)
    dc = base.make_datacenter(client)
    labels = ionoscloud.LabelsApi(client)
    made = labels.datacenters_labels_post(dc.id, ionoscloud.LabelResource(
        properties=ionoscloud.LabelResourceProperties(key="env", value="prod")))
    assert (made.id, made.type, made.properties.key, made.properties.value) == (
        "env", "label", "env", "prod")
    with pytest.raises(ionoscloud.ApiException) as err:
        labels.datacenters_labels_post(dc.id, ionoscloud.LabelResource(
            properties=ionoscloud.LabelResourceProperties(key="env", value="dev")))
    assert err.value.status == 422
    labels.datacenters_labels_put(dc.id, "env", ionoscloud.LabelResource(
        properties=ionoscloud.LabelResourceProperties(key="env", value="staging")))
    assert labels.datacenters_labels_find_by_key(dc.id, "env").properties.value == "staging"
    assert [i.properties.key for i in labels.datacenters_labels_get(dc.id, depth=1).items] \
        == ["env"]
    everything = labels.labels_get(depth=1).items
    assert len(everything) == 1
    urn = f"urn:label:datacenter:{dc.id}:env"
    assert everything[0].id == urn and everything[0].properties.resource_id == dc.id
    assert everything[0].properties.resource_type == "datacenter"
    assert labels.labels_find_by_urn(urn).properties.value == "staging"
    labels.datacenters_labels_delete(dc.id, "env")
    with pytest.raises(ionoscloud.ApiException) as err:
        labels.datacenters_labels_find_by_key(dc.id, "env")
    assert err.value.status == 404
    with pytest.raises(ionoscloud.ApiException) as err:
        labels.labels_find_by_urn(urn)
    assert err.value.status == 404


def test_contracts_report_limits_and_what_is_provisioned(ionos) -> None:
    """ContractResourcesApi.contracts_get: the contract's number, owner, status and
    ``resourceLimits`` (ResourceLimits: per-server/contract limits and what is provisioned)."""
    import ionoscloud

    client = base.cloud(ionos)
    dc = base.make_datacenter(client)
    k8s = ionoscloud.KubernetesApi(client)
    cluster = k8s.k8s_post(base.cluster_body())
    k8s.k8s_nodepools_post(cluster.id, base.pool_body(dc.id, nodes=3))  # 2 cores, 4 GB each
    contracts = ionoscloud.ContractResourcesApi(client).contracts_get(depth=1)
    [contract] = contracts.items
    assert contract.type == "contract"
    props = contract.properties
    assert props.contract_number > 0 and props.owner == base.USER
    limits = props.resource_limits
    assert (limits.cores_provisioned, limits.ram_provisioned) == (6, 3 * 4096)
    assert limits.k8s_clusters_provisioned == 1
    assert limits.k8s_cluster_limit_total >= 1

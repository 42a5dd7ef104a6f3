"""The IONOS emulators' pure parts: auth, pagination links, PEM metadata, handlers in-process."""

from __future__ import annotations

import base64
import datetime as dt
import json
from email.message import Message
from typing import Any

import pytest

from sandbox.certmanager import describe_pem
from sandbox.ionos import IonosCloudService
from sandbox.ionos_common import (
    ApiError,
    check_basic_or_bearer,
    check_bearer,
    iso,
    page_links,
    parse_iso,
)
from sandbox.mariadb import MariaDBService
from sandbox.world import World

BASE = "http://127.0.0.1:1"


def request(method: str, path: str, body: Any = None, auth: str = "Bearer t",
            query: dict[str, str] | None = None, content_type: str = "application/json") -> Any:
    from sandbox.http import Request

    headers = Message()
    if auth:
        headers["Authorization"] = auth
    headers["Content-Type"] = content_type
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body else b"")
    return Request(method, path, query or {}, headers, raw, BASE)


def test_auth_checks() -> None:
    basic = "Basic " + base64.b64encode(b"me:pw").decode()
    check_basic_or_bearer(request("GET", "/", auth=basic), "t", "me", "pw")
    check_basic_or_bearer(request("GET", "/", auth="Bearer t"), "t", "me", "pw")
    for auth in ("", "Bearer x", "Basic " + base64.b64encode(b"me:no").decode(), "Basic %%%",
                 "Digest abc"):
        with pytest.raises(ApiError) as err:
            check_basic_or_bearer(request("GET", "/", auth=auth), "t", "me", "pw")
        assert err.value.status == 401
    with pytest.raises(ApiError):
        check_bearer(request("GET", "/", auth=basic), "t")


def test_page_links_and_timestamps() -> None:
    links = page_links("http://h/x", 0, 2, 5)
    assert links == {"self": "http://h/x?offset=0&limit=2", "next": "http://h/x?offset=2&limit=2"}
    links = page_links("http://h/x", 4, 2, 5)
    assert "next" not in links and links["prev"] == "http://h/x?offset=2&limit=2"
    assert iso(0) == "1970-01-01T00:00:00Z" and parse_iso("1970-01-01T00:00:10Z") == 10


def test_describe_pem() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(255).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example")]), False)
            .sign(key, hashes.SHA256()))
    info = describe_pem(cert.public_bytes(serialization.Encoding.PEM).decode())
    assert info["commonName"] == "a.example" and info["serialNumber"] == "FF"
    assert info["subjectAlternativeNames"] == ["a.example"]
    assert iso(info["notAfter"]) == "2026-01-31T00:00:00Z"
    with pytest.raises(ValueError):
        describe_pem("garbage")


def test_cloud_api_in_process_validation_and_depth() -> None:
    svc = IonosCloudService(World(), "t", "me", "pw")
    resp = svc.handle(request("POST", "/cloudapi/v6/datacenters",
                              {"properties": {"name": "d", "location": "xx/yyy"}}))
    assert resp.status == 422 and "location" in resp.body["messages"][0]["message"]
    resp = svc.handle(request("POST", "/cloudapi/v6/datacenters", b"{oops"))
    assert resp.status == 400 and resp.body["httpStatus"] == 400
    resp = svc.handle(request("POST", "/cloudapi/v6/datacenters", {"properties": {}},
                              content_type="text/plain"))
    assert resp.status == 415
    resp = svc.handle(request("POST", "/cloudapi/v6/datacenters",
                              {"properties": {"name": "d", "location": "de/fra"}}))
    assert resp.status == 202 and resp.body["metadata"]["state"] == "BUSY"
    assert resp.headers["Location"].startswith(f"{BASE}/cloudapi/v6/requests/")
    listed = svc.handle(request("GET", "/cloudapi/v6/datacenters", query={"depth": "0"}))
    assert set(listed.body["items"][0]) == {"id", "type", "href"}
    resp = svc.handle(request("GET", "/cloudapi/v6/datacenters", query={"depth": "11"}))
    assert resp.status == 422
    resp = svc.handle(request("GET", "/cloudapi/v6/datacenters", auth=""))
    assert resp.status == 401


def test_injected_fault_body_has_integer_retry_after() -> None:
    for svc in (IonosCloudService(World(), "t", "u", "p"), MariaDBService(World(), "t")):
        resp = svc.fault_response(429, 3)
        assert resp.status == 429 and resp.headers["Retry-After"] == "3"
        assert resp.body["httpStatus"] == 429 and resp.body["messages"][0]["message"]


def test_mariadb_in_process_validation() -> None:
    svc = MariaDBService(World(), "t")
    body: dict[str, Any] = {"properties": {
        "name": "db", "version": "10.11",
        "instances": {"count": 1, "ram": 2, "cores": 1, "storageSize": 10},
        "connection": {"datacenterId": "d", "lanId": "1", "primaryInstanceAddress": "10.0.0.2/24"},
        "credentials": {"username": "app", "password": "long-enough-pw"}}}
    resp = svc.handle(request("POST", "/mariadb/v2/clusters", body))
    assert resp.status == 422 and "ram" in resp.body["messages"][0]["message"]
    body["properties"]["instances"]["ram"] = 4
    resp = svc.handle(request("POST", "/mariadb/v2/clusters", body))
    assert resp.status == 201 and resp.body["metadata"]["state"] == "PROVISIONING"
    assert "password" not in resp.body["properties"]["credentials"]
    resp = svc.handle(request("GET", "/mariadb/v2/clusters", auth="Basic eDp5"))
    assert resp.status == 401


def test_kubernetes_version_rules() -> None:
    """availableUpgradeVersions: one minor up at most; viableNodePoolVersions: never newer than
    the cluster, at most one minor older; a pool's upgrades stay within both."""
    from sandbox.ionos import cluster_upgrades, node_pool_versions, pool_upgrades

    assert cluster_upgrades("1.31.9") == ["1.32.6"]
    assert cluster_upgrades("1.33.2") == []
    assert node_pool_versions("1.32.6") == ["1.31.9", "1.32.6"]
    assert node_pool_versions("1.31.9") == ["1.31.9"]
    assert pool_upgrades("1.31.9", "1.33.2") == ["1.32.6"]
    assert pool_upgrades("1.31.9", "1.31.9") == []


def test_list_query_filters_orders_and_cuts() -> None:
    from sandbox.ionos_common import ListQuery

    views = [{"properties": {"name": n, "size": s}, "metadata": {"state": "AVAILABLE"}}
             for n, s in [("web-b", 10), ("DB", 2), ("web-a", None)]]
    req = request("GET", "/x")
    req.raw_query = {"filter.name": ["WEB"], "orderBy": ["size"]}
    req.query = {k: v[-1] for k, v in req.raw_query.items()}
    query = ListQuery.from_request(req)
    assert [v["properties"]["name"] for v in query.select(views, lambda v: v)] == [
        "web-b", "web-a"], "contains, case-insensitive; items without the property last"
    req.raw_query = {"filter.state": ["busy", "avail"], "orderBy": ["name"], "maxResults": ["2"]}
    req.query = {k: v[-1] for k, v in req.raw_query.items()}
    query = ListQuery.from_request(req)
    assert [v["properties"]["name"] for v in query.cut(query.select(views, lambda v: v))] == [
        "DB", "web-a"], "repeated values are alternatives; metadata filters too"
    req.raw_query = {"filter.missing": ["x"]}
    req.query = {"filter.missing": "x"}
    assert ListQuery.from_request(req).select(views, lambda v: v) == []
    req.query = {"maxResults": "-1"}
    req.raw_query = {"maxResults": ["-1"]}
    with pytest.raises(ApiError) as err:
        ListQuery.from_request(req)
    assert err.value.status == 422


def test_kubeconfig_dict_accepts_json_and_yaml_and_names_the_source() -> None:
    from resources.kubernetes import kubeconfig_dict

    config = {"apiVersion": "v1", "kind": "Config", "clusters": []}
    assert kubeconfig_dict(json.dumps(config).encode(), "GET /k8s/x/kubeconfig") == config
    assert "clusters" in kubeconfig_dict(b"kind: Config\nclusters: []\n", "src")
    for bad in (b"{'clusters': [", b"\xff\xfe", b"just text"):
        with pytest.raises(ValueError, match="GET /k8s/x/kubeconfig") as err:
            kubeconfig_dict(bad, "GET /k8s/x/kubeconfig")
        assert "clusters': [" not in str(err.value), "the body (a credential) is never quoted"

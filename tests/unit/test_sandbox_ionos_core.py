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

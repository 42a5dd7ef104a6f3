"""Sandbox links: served TLS follows cert-manager Secrets; IONOS certificates seeded from spec."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

CM_GROUP, CM_VERSION = "cert-manager.io", "v1"


def resolve_map(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    """``host:port`` of PLATFORM_TLS_RESOLVE → the address that serves it."""
    out = {}
    for entry in filter(None, env["PLATFORM_TLS_RESOLVE"].split(",")):
        left, _, right = entry.partition("=")
        addr, _, port = right.rpartition(":")
        out[left] = (addr, int(port))
    return out


def served_names(env: dict[str, str]) -> tuple[str, list[str]]:
    """A served apex host and the served hosts one label below it (a wildcard covers them)."""
    hosts = sorted({key.rpartition(":")[0] for key in resolve_map(env)})
    for apex in hosts:
        below = [h for h in hosts if h.partition(".")[2] == apex]
        if below:
            return apex, below
    raise AssertionError(f"PLATFORM_TLS_RESOLVE has no apex host with hosts below it: {hosts} "
                         "(the shipped spec serves some; this test needs one)")


def served_leaf(env: dict[str, str], host: str) -> bytes:
    """DER of the leaf the sandbox serves for SNI ``host``, verified with SANDBOX_CA_BUNDLE."""
    (addr, port), = [v for k, v in resolve_map(env).items() if k.rpartition(":")[0] == host]
    ctx = ssl.create_default_context(cafile=env["SANDBOX_CA_BUNDLE"])
    with socket.create_connection((addr, port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def secret_leaf(core: Any, ns: str, name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    secret = core.read_namespaced_secret(name, ns)
    chain = x509.load_pem_x509_certificates(base64.b64decode(secret.data["tls.crt"]))
    return chain[0].public_bytes(serialization.Encoding.DER)


def api_client(env: dict[str, str]) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=env["KUBECONFIG"])


def wait_ready(custom: Any, ns: str, name: str, after_revision: int = 0,
               timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(CM_GROUP, CM_VERSION, ns, "certificates", name)
        status = obj.get("status") or {}
        conds = {c["type"]: c for c in status.get("conditions") or []}
        if (conds.get("Ready", {}).get("status") == "True" and "Issuing" not in conds
                and int(status.get("revision") or 0) > after_revision):
            return obj
        time.sleep(0.05)
    raise AssertionError(f"Certificate {ns}/{name} not Ready after revision {after_revision}: "
                         f"{obj.get('status')}")


def install_cert_manager(env: dict[str, str]) -> None:
    """cert-manager's CRDs, as its chart installs them: a fresh cluster serves none."""
    from sandbox.admin import AdminClient

    AdminClient(env["SANDBOX_ADMIN_URL"]).install_chart("cert-manager", "v1.16.2",
                                                        {"crds": {"enabled": True}})


def make_certificate(env: dict[str, str], ns: str, name: str, dns: list[str]) -> None:
    from kubernetes import client

    install_cert_manager(env)
    api = api_client(env)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(CM_GROUP, CM_VERSION, ns, "issuers", {
        "apiVersion": f"{CM_GROUP}/{CM_VERSION}", "kind": "Issuer",
        "metadata": {"name": "self-signed"}, "spec": {"selfSigned": {}}})
    custom.create_namespaced_custom_object(CM_GROUP, CM_VERSION, ns, "certificates", {
        "apiVersion": f"{CM_GROUP}/{CM_VERSION}", "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {"secretName": f"{name}-tls", "commonName": dns[0], "dnsNames": dns,
                 "issuerRef": {"kind": "Issuer", "name": "self-signed"},
                 "duration": "2160h", "renewBefore": "720h"}})


@pytest.fixture
def glue_namespace(sandbox: Any) -> Iterator[str]:
    from kubernetes import client

    # An empty cloud first: a module that reconciled the example before (in this worker's
    # sandbox) leaves its Certificates for the same hosts, and their Secrets, written whenever
    # the controller issues them, would be served in place of this test's (last writer wins).
    sandbox.reset()
    ns = f"glue-{uuid.uuid4().hex[:8]}"
    yield ns
    client.CoreV1Api(api_client(sandbox.env)).delete_namespace(ns)


def test_served_certificate_follows_the_secret_and_its_renewal(sandbox: Any,
                                                              glue_namespace: str) -> None:
    from kubernetes import client

    env, ns = sandbox.env, glue_namespace
    apex, below = served_names(env)
    api = api_client(env)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    make_certificate(env, ns, "edge", [apex, f"*.{apex}"])
    first = wait_ready(custom, ns, "edge")
    leaf = secret_leaf(core, ns, "edge-tls")
    for host in [apex, *below]:  # the exact name and every host the wildcard covers
        assert served_leaf(env, host) == leaf, host

    renew(custom, ns, "edge", first)
    wait_ready(custom, ns, "edge", after_revision=int(first["status"]["revision"]))
    renewed = secret_leaf(core, ns, "edge-tls")
    assert renewed != leaf
    for host in [apex, *below]:
        assert served_leaf(env, host) == renewed, host


def test_certificate_for_other_names_leaves_the_served_one_alone(sandbox: Any,
                                                                glue_namespace: str) -> None:
    from kubernetes import client

    env, ns = sandbox.env, glue_namespace
    apex, _ = served_names(env)
    before = served_leaf(env, apex)
    api = api_client(env)
    make_certificate(env, ns, "elsewhere", [f"elsewhere.{ns}.invalid"])
    wait_ready(client.CustomObjectsApi(api), ns, "elsewhere")
    assert served_leaf(env, apex) == before


def spec_ionos_items(spec_path: Path) -> list[tuple[str, str]]:
    spec = yaml.safe_load(spec_path.read_text())
    return [(i["ionos"]["name"], i.get("hostname") or i["endpoint"]["host"])
            for i in spec["certificates"]["items"] if i.get("ionos")]


def test_ionos_certificate_manager_holds_the_spec_certificates(sandbox: Any) -> None:
    import ionoscloud_cert_manager as cm
    from cryptography import x509

    wanted = spec_ionos_items(Path(sandbox.env["PLATFORM_SPEC"]))
    # The shipped spec names some: an empty list would make the loop below check nothing.
    assert wanted, "the seeded spec names no IONOS Certificate Manager certificate"
    config = cm.Configuration(host=sandbox.env["IONOS_CERTMANAGER_URL"],
                              token=sandbox.env["IONOS_TOKEN"])
    items: list[Any] = cm.CertificateApi(cm.ApiClient(config)).certificates_get().items or []
    by_name = {item.properties.name: item for item in items}
    trusted = {c.subject: c for c in x509.load_pem_x509_certificates(
        Path(sandbox.env["SANDBOX_CA_BUNDLE"]).read_bytes())}
    for name, host in wanted:
        assert name in by_name, f"{name} not among {sorted(by_name)}"
        item = by_name[name]
        assert item.metadata.expired is False
        cert = x509.load_pem_x509_certificate(item.properties.certificate.encode())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert host in sans.get_values_for_type(x509.DNSName)
        days = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400
        assert 59 < days <= 60
        cert.verify_directly_issued_by(trusted[cert.issuer])


def renew(custom: Any, ns: str, name: str, current: dict[str, Any]) -> None:
    """Ask for a re-issue as ``cmctl renew`` does: Issuing=True, reason ManuallyTriggered."""
    obj = dict(current)
    obj["status"] = {**current["status"], "conditions": [
        *current["status"]["conditions"],
        {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
         "message": "Certificate re-issuance manually triggered",
         "lastTransitionTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]}
    custom.replace_namespaced_custom_object_status(CM_GROUP, CM_VERSION, ns, "certificates",
                                                   name, obj)


def spec_certificate_manifests(spec_path: Path) -> list[dict[str, Any]]:
    """The Certificate objects of the spec repo's manifests that a spec item audits."""
    spec = yaml.safe_load(spec_path.read_text())
    refs = {(i["cert_manager"]["namespace"], i["cert_manager"]["name"])
            for i in spec["certificates"]["items"] if i.get("cert_manager") and i.get("endpoint")}
    found = []
    for path in sorted((spec_path.parent / "manifests").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Certificate":
                meta = doc["metadata"]
                if (meta.get("namespace"), meta["name"]) in refs:
                    found.append(doc)
    return found


def test_audit_of_the_seeded_spec_finds_the_secret_served(sandbox: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from platform_assets.runs.certificates import Observer, audit
    from platform_assets.spec import load_spec
    from resources.kubernetes import KubernetesResource
    from resources.tls import TlsProbeResource

    env = sandbox.env
    spec_path = Path(env["PLATFORM_SPEC"])
    manifests = spec_certificate_manifests(spec_path)
    assert manifests, "the seeded spec audits no cert-manager Certificate with an endpoint"
    install_cert_manager(env)
    api = api_client(env)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    created = []
    for doc in manifests:
        ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
        try:
            core.create_namespace({"metadata": {"name": ns}})
        except ApiException as exc:
            assert exc.status == 409, exc
        try:
            custom.create_namespaced_custom_object(CM_GROUP, CM_VERSION, ns, "certificates", doc)
            created.append((ns, name))
        except ApiException as exc:
            assert exc.status == 409, exc  # the example was applied already in this session
    try:
        spec = load_spec(spec_path)
        items = [i for i in spec.certificates.items if i.cert_manager and i.endpoint
                 and (i.cert_manager.namespace, i.cert_manager.name)
                 in {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in manifests}]
        assert len(items) == len(manifests), "every Certificate applied here is audited"
        observer = Observer(
            tls=TlsProbeResource(resolve=env["PLATFORM_TLS_RESOLVE"],
                                 ca_bundle=env["SANDBOX_CA_BUNDLE"], use_system_store=False),
            kubernetes=KubernetesResource(kubeconfig_path=env["KUBECONFIG"], retry_attempts=2))
        ready = {(d["metadata"]["namespace"], d["metadata"]["name"]):
                 wait_ready(custom, d["metadata"]["namespace"], d["metadata"]["name"])
                 for d in manifests}
        # Other tests in this session may have issued Certificates for the same hosts since;
        # re-issue ours so it is the newest, as the last issued Secret is what gets served.
        for (ns, name), obj in list(ready.items()):
            renew(custom, ns, name, obj)
            ready[(ns, name)] = wait_ready(custom, ns, name,
                                           after_revision=int(obj["status"]["revision"]))
        first = audit(items, spec.certificates, observer)
        for item in items:
            assert first[item.name].reasons == [], (item.name, first[item.name].summary())
            assert first[item.name].facts["serial"] == first[item.name].facts["secret_serial"]

        for (ns, name), obj in ready.items():
            renew(custom, ns, name, obj)
            wait_ready(custom, ns, name, after_revision=int(obj["status"]["revision"]))
        after = audit(items, spec.certificates, observer)
        for item in items:
            assert after[item.name].reasons == [], (item.name, after[item.name].summary())
            assert after[item.name].facts["serial"] != first[item.name].facts["serial"]
    finally:
        for ns, name in created:
            custom.delete_namespaced_custom_object(CM_GROUP, CM_VERSION, ns, "certificates",
                                                   name)


def wait_for(what: str, check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_restart_from_state_dir_resyncs_nodes_and_serves_restored_secrets(
        tmp_path: Path) -> None:
    import ionoscloud
    from kubernetes import client

    from sandbox.app import start_sandbox

    state = tmp_path / "state"
    box = start_sandbox(state_dir=state)
    try:
        env = box.env
        cloud = ionoscloud.ApiClient(ionoscloud.Configuration(host=env["IONOS_API_URL"],
                                                              token=env["IONOS_TOKEN"]))
        dc = ionoscloud.DataCentersApi(cloud).datacenters_post(ionoscloud.DatacenterPost(
            properties=ionoscloud.DatacenterPropertiesPost(name="glue", location="de/fra")))
        ionos_k8s = ionoscloud.KubernetesApi(cloud)
        cluster = ionos_k8s.k8s_post(ionoscloud.KubernetesClusterForPost(
            properties=ionoscloud.KubernetesClusterPropertiesForPost(name="glue",
                                                                     k8s_version="1.32.6")))
        ionos_k8s.k8s_nodepools_post(cluster.id, ionoscloud.KubernetesNodePoolForPost(
            properties=ionoscloud.KubernetesNodePoolPropertiesForPost(
                name="glue-pool", datacenter_id=dc.id, node_count=2, cores_count=2,
                ram_size=4096, availability_zone="AUTO", storage_type="SSD", storage_size=20,
                k8s_version="1.32.6")))
        core = client.CoreV1Api(api_client(env))
        nodes = wait_for("the pool's Nodes", lambda: sorted(
            n.metadata.name for n in core.list_node().items) if len(
            core.list_node().items) == 2 else None)
        apex, below = served_names(env)
        make_certificate(env, "glue", "edge", [apex, f"*.{apex}"])
        wait_ready(client.CustomObjectsApi(api_client(env)), "glue", "edge")
        leaf = secret_leaf(core, "glue", "edge-tls")
        # Lose the Nodes on the Kubernetes side only: the restart must bring them back.
        for name in nodes:
            core.delete_node(name)
        assert not core.list_node().items
    finally:
        box.stop()

    again = start_sandbox(state_dir=state)
    try:
        env = again.env
        core = client.CoreV1Api(api_client(env))
        assert wait_for("the resynced Nodes", lambda: sorted(
            n.metadata.name for n in core.list_node().items)) == nodes
        assert secret_leaf(core, "glue", "edge-tls") == leaf
        for host in [apex, *below]:  # the restored Secret is served, its CA trusted
            assert served_leaf(env, host) == leaf, host
    finally:
        again.stop()

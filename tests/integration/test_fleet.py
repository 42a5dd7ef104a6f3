"""A fleet on the sandbox: staging on an existing (K3s-like) cluster, production on IONOS, from
examples/fleet. Each environment reconciles in its own run with its own resources; a failure in
one leaves the other green; staging needs no IONOS credentials; overrides reach only their
environment; production applies a change only after staging's drift checks passed for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from resources.kubernetes import KubernetesResource
from sandbox.app import Sandbox, start_sandbox
from tests.integration.results import step_errors

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("fleet")]

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
IONOS_VARS = ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "IONOS_API_URL",
              "IONOS_MARIADB_URL", "IONOS_CERTMANAGER_URL", "IONOS_DNS_URL", "IONOS_POSTGRES_URL")
READS = ("GET", "HEAD", "OPTIONS", "REVIEW")  # an access review writes nothing


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(clusters=("staging",), timeout=90)
    try:
        # An existing cluster comes with its nodes (the managed one gets them from node pools).
        sb.admin.add_nodes(pool="k3s", count=3, cluster="staging")
        yield sb
    finally:
        sb.stop()


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    """A copy of examples/fleet, so a test can edit it."""
    shutil.copytree(FLEET, tmp_path / "fleet")
    return tmp_path / "fleet" / "platform.yaml"


@pytest.fixture()
def environ(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's variables in the environment, as an operator's shell has them."""
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PLATFORM_KUBE_CONTEXT", raising=False)
    return dict(sandbox.env)


def instance_at(path: Path) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(path))


def run(defs: dg.Definitions, instance: Any, job: str) -> Any:
    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)


def writes(sandbox: Sandbox, service: str) -> int:
    per = sandbox.admin.requests().get(service, {})
    return sum(n for method, n in per.items() if method not in READS)


def cluster(env: dict[str, str], name: str) -> KubernetesResource:
    path = env["STAGING_KUBECONFIG"] if name == "staging" else env["KUBECONFIG"]
    return KubernetesResource(kubeconfig_path=path, field_manager="fleet-test")


def test_staging_needs_no_ionos_credentials_and_a_failure_in_one_leaves_the_other_green(
        sandbox: Sandbox, environ: dict[str, str], spec: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*IONOS_VARS, "KUBECONFIG"):  # staging reads STAGING_KUBECONFIG only
        monkeypatch.delenv(name, raising=False)
    defs = build_definitions(spec)
    # The module's sandbox may hold what another test of it reconciled already (pytest runs
    # them in file order, but need not): without staging's Deployment, the run has to write.
    cluster(environ, "staging").delete("apps/v1", "Deployment", "hello", "hello")
    production_before = cluster(environ, "production").get("v1", "Namespace", "hello")
    with instance_at(tmp_path / "dagster") as instance:
        sandbox.admin.reset_counts()
        staging = run(defs, instance, "reconcile_platform_staging")
        assert staging.success, step_errors(staging)
        assert sum(sandbox.admin.requests().get("ionos", {}).values()) == 0
        assert writes(sandbox, "kubernetes-staging") > 0 and writes(sandbox, "kubernetes") == 0
        assert cluster(environ, "staging").get("apps/v1", "Deployment", "hello", "hello")
        assert cluster(environ, "production").get("v1", "Namespace", "hello") == production_before

        # Production cannot run without its IONOS credentials: its run fails, alone.
        production = run(defs, instance, "reconcile_platform_production")
        assert not production.success
        assert "IONOS" in step_errors(production)

        # With credentials, but the IONOS API failing: production fails again; staging, run
        # again meanwhile, stays green and writes nothing (a no-op).
        for name in IONOS_VARS:
            if name in environ:
                monkeypatch.setenv(name, environ[name])
        sandbox.admin.set_fault("ionos", error_rate=1.0, statuses=[503], retry_after=0)
        try:
            production = run(defs, instance, "reconcile_platform_production")
            assert not production.success and "503" in step_errors(production)
            sandbox.admin.reset_counts()
            staging = run(defs, instance, "reconcile_platform_staging")
            assert staging.success, step_errors(staging)
            assert writes(sandbox, "kubernetes-staging") == 0
        finally:
            sandbox.admin.clear_faults()
        checks = [ev for ev in staging.all_events
                  if ev.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert checks and all(ev.event_specific_data.passed for ev in checks)


def _hello_description(spec: Path, text: str) -> None:
    body = spec.read_text()
    old = "    description: The web application.\n"
    assert old in body
    spec.write_text(body.replace(old, f"    description: {text}\n"))


def test_promotion_gates_production_on_staging_checks_and_overrides_stay_in_their_environment(
        sandbox: Sandbox, environ: dict[str, str], spec: Path, tmp_path: Path) -> None:
    with instance_at(tmp_path / "dagster") as instance:
        defs = build_definitions(spec)
        # Production first, on an instance where staging never ran: its infrastructure (staging
        # has none) is reconciled; its components wait for staging.
        first = run(defs, instance, "reconcile_platform_production")
        assert not first.success
        errors = step_errors(first)
        assert "production/platform/flux-install: waiting for staging (promotion)" in errors
        mats = {"/".join(ev.asset_key.path) for ev in first.get_asset_materialization_events()}
        assert "production/ionos/node_pool/workers" in mats
        assert not any(m.startswith("production/platform") for m in mats)

        staging = run(defs, instance, "reconcile_platform_staging")
        assert staging.success, step_errors(staging)
        production = run(defs, instance, "reconcile_platform_production")
        assert production.success, step_errors(production)

        # The override of the ingress's values reached staging only.
        values = {env: (cluster(environ, env).get("helm.toolkit.fluxcd.io/v2", "HelmRelease",
                                                  "ingress", "kube-system") or {})
                  .get("spec", {}).get("values") for env in ("staging", "production")}
        assert values == {"staging": {"service": {"type": "NodePort"}},
                          "production": {"service": {"type": "LoadBalancer"}}}

        # A change of the base reaches production only once staging applied and checked it.
        _hello_description(spec, "The web application, version 2.")
        defs = build_definitions(spec)
        held = run(defs, instance, "reconcile_platform_production")
        assert not held.success
        assert ("production/applications/hello: waiting for staging (promotion): staging has "
                "not applied its current spec") in step_errors(held)
        assert run(defs, instance, "reconcile_platform_staging").success
        promoted = run(defs, instance, "reconcile_platform_production")
        assert promoted.success, step_errors(promoted)


def test_the_sandbox_serves_the_existing_cluster_apart(sandbox: Sandbox) -> None:
    # Kubernetes API conventions: a bearer token is valid for its own API server only, and a
    # cluster nobody made on IONOS has none of IONOS's CRDs (a K3s server starts without them).
    import urllib.error
    import urllib.request

    main: Any = sandbox.services["kubernetes"]
    staging: Any = sandbox.services["kubernetes-staging"]
    req = urllib.request.Request(main.world.kubernetes_url + "/api/v1/namespaces",
                                 headers={"Authorization": f"Bearer "
                                                           f"{staging.world.kubernetes_token}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)  # noqa: S310 - the sandbox on 127.0.0.1
    assert info.value.code == 401
    client = KubernetesResource(kubeconfig_path=sandbox.env["STAGING_KUBECONFIG"])
    crds = client.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert not [c for c in crds if "ionos" in c["metadata"]["name"]]
    assert Path(sandbox.env["STAGING_KUBECONFIG"]).stat().st_mode & 0o077 == 0  # private
    # Faults aim at one cluster: the existing one is its own service.
    assert "kubernetes-staging" in sandbox.admin.healthz()["services"]

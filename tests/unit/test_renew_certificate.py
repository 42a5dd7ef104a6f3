"""renew_certificate in a fleet: one op shared by every environment's job, each job carrying its
environment's certificates and binding its own cluster; the run config (run_config_for) names
the environment, and a config for another environment's job is refused before any request."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from jobs.certificates import (
    RenewCertificateConfig,
    certificate_refs,
    resolve_target,
    run_config_for,
)
from platform_assets.definitions import build_definitions
from platform_assets.names import RENEW_CERTIFICATE_OP
from platform_assets.spec.loader import load_graphs

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"
CERTS = """
certificates:
  items:
    - name: hello-tls
      hostname: hello.example.org
      cert_manager: {namespace: hello, name: hello-tls}
    - name: hello-endpoint
      endpoint: {host: hello.example.org}
"""


@pytest.fixture()
def fleet(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(FLEET.parent, tmp_path / "fleet")
    spec = tmp_path / "fleet" / "platform.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("\nenvironments:\n", CERTS + "\nenvironments:\n", 1))
    return spec


def test_every_environments_job_runs_the_one_op_with_its_own_cluster(fleet: Path) -> None:
    defs = build_definitions(fleet)
    staging = defs.resolve_job_def("renew_certificate_staging")
    production = defs.resolve_job_def("renew_certificate_production")
    (op_s,), (op_p,) = staging.graph.node_defs, production.graph.node_defs
    assert op_s is op_p and op_s.name == RENEW_CERTIFICATE_OP
    # Each binds its environment's Kubernetes resource as its kubernetes, as restart_rollout does.
    for env in ("staging", "production"):
        renew = defs.resolve_job_def(f"renew_certificate_{env}").resource_defs["kubernetes"]
        restart = defs.resolve_job_def(f"restart_rollout_{env}").resource_defs["kubernetes"]
        assert renew is restart
    assert staging.resource_defs["kubernetes"] is not production.resource_defs["kubernetes"]
    assert staging.metadata["environment"].value == "staging"


def test_the_run_config_names_the_environment_and_another_ones_is_refused(fleet: Path) -> None:
    staging, _production = load_graphs(fleet)
    assert run_config_for(certificate="hello-tls", environment="staging") == {
        "ops": {RENEW_CERTIFICATE_OP: {"config": {
            "namespace": "", "name": "", "certificate": "hello-tls", "environment": "staging"}}}}
    certs = certificate_refs(staging)
    assert resolve_target(certs, RenewCertificateConfig(
        certificate="hello-tls", environment="staging")) == ("hello", "hello-tls")
    assert resolve_target(certs, RenewCertificateConfig(certificate="hello-tls")) == (
        "hello", "hello-tls")  # no environment: the job's own
    with pytest.raises(dg.Failure, match="launch renew_certificate_production instead"):
        resolve_target(certs, RenewCertificateConfig(certificate="hello-tls",
                                                     environment="production"))
    with pytest.raises(dg.Failure, match="not managed by cert-manager"):
        resolve_target(certs, RenewCertificateConfig(certificate="hello-endpoint"))
    with pytest.raises(dg.Failure, match=r"no certificate 'nope'.*known: hello-tls, "
                                         "hello-endpoint"):
        resolve_target(certs, RenewCertificateConfig(certificate="nope"))


def test_a_config_for_another_environment_fails_before_touching_a_cluster(
        fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_KUBECONFIG", "/nonexistent/kubeconfig")  # never read
    defs = build_definitions(fleet)
    job = defs.resolve_job_def("renew_certificate_staging")
    result = job.execute_in_process(
        run_config=run_config_for(certificate="hello-tls", environment="production"),
        raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node(RENEW_CERTIFICATE_OP)
    assert failure is not None and "this job renews in 'staging'" in str(failure.error)

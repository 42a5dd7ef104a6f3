"""audit_certificates (every certificate asset and its check) and renew_certificate.

``renew_certificate`` asks cert-manager to issue a Certificate again now, the way ``cmctl renew``
does: it sets the ``Issuing`` condition to True with reason ``ManuallyTriggered`` through the
status subresource (a PUT carrying the resourceVersion just read, so a concurrent change by
cert-manager is a 409 and is re-read, never overwritten). The alert sensor launches it with
``run_config_for``; a person launches it from the UI with the same config. What the op does to
the Certificate is ``trigger_renewal`` in ``platform_assets/runs/certificates.py`` (imported by
the run).
"""


import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from jobs.executors import executor_for
from jobs.k8s_tags import k8s_tags
from platform_assets.core.graph import Graph
from platform_assets.names import (
    AUDIT_CERTIFICATES_JOB,
    RENEW_CERTIFICATE_JOB,
    RENEW_CERTIFICATE_OP,
    TAG_CERTIFICATE,
    TAG_REMEDIATION,
    scoped,
)


class RenewCertificateConfig(dg.Config):
    """Which Certificate: ``namespace`` and ``name``, or ``certificate``, the spec's name. With
    none of them, the run's ``platform-ops/certificate`` tag names the spec's certificate.
    ``environment``: the fleet's environment it is in; when given it must be the job's (empty:
    the job's own)."""

    namespace: str = ""
    name: str = ""
    certificate: str = ""
    environment: str = ""


# The spec's cert-manager Certificates of one environment: spec name -> (namespace, name), None
# for a certificate cert-manager does not manage. Each renew job carries its environment's in
# its metadata, so that one op serves every environment.
CertificateRefs = dict[str, tuple[str, str] | None]
META_ENVIRONMENT, META_CERTIFICATES = "environment", "certificates"


@dataclass(frozen=True)
class EnvironmentCertificates:
    """The certificates the renew job of one environment may renew, by spec name."""

    environment: str
    refs: CertificateRefs


def certificate_refs(graph: Graph) -> EnvironmentCertificates:
    """``graph``'s environment and its certificates as the renew op looks them up."""
    refs: CertificateRefs = {}
    for item in graph.spec.certificates.items:
        ref = (item.cert_manager.namespace, item.cert_manager.name) if item.cert_manager else None
        refs[item.name] = ref
    return EnvironmentCertificates(graph.environment or "", refs)


def _job_metadata(certs: EnvironmentCertificates) -> dict[str, Any]:
    return {META_ENVIRONMENT: certs.environment, META_CERTIFICATES: dg.MetadataValue.json(
        {k: list(v) if v else None for k, v in certs.refs.items()})}


def _of_job(metadata: Mapping[str, dg.MetadataValue]) -> EnvironmentCertificates:
    """What :func:`_job_metadata` put into a renew job's metadata."""
    # Through JSON: the value is typed as any packable value; this one is what we wrote.
    refs = json.loads(json.dumps(metadata[META_CERTIFICATES].value or {}))
    return EnvironmentCertificates(str(metadata[META_ENVIRONMENT].value or ""),
                                   {str(k): (str(v[0]), str(v[1])) if v else None
                                    for k, v in dict(refs).items()})


def run_config_for(namespace: str = "", name: str = "", certificate: str = "",
                   environment: str | None = None) -> dict[str, Any]:
    """Run config for ``renew_certificate`` of ``environment`` (for sensors and tests)."""
    return {"ops": {RENEW_CERTIFICATE_OP: {"config": {
        "namespace": namespace, "name": name, "certificate": certificate,
        "environment": environment or ""}}}}


def resolve_target(certs: EnvironmentCertificates | Graph,
                   config: RenewCertificateConfig) -> tuple[str, str]:
    """The Certificate's (namespace, name); a spec name is looked up in ``certificates.items``.

    Raises:
        dg.Failure: the config names another environment, neither form is given, or the spec
            name is unknown or has no cert_manager.
    """
    if isinstance(certs, Graph):
        certs = certificate_refs(certs)
    if config.environment and config.environment != certs.environment:
        raise dg.Failure(f"the config names environment {config.environment!r}, and this job "
                         f"renews in {certs.environment or '(none)'!r}: launch "
                         f"{scoped(RENEW_CERTIFICATE_JOB, config.environment)} instead")
    if config.namespace and config.name:
        return config.namespace, config.name
    if config.certificate:
        # The spec's name, or the name of the cert-manager Certificate it manages.
        found = [n for n, r in certs.refs.items()
                 if n == config.certificate or (r and r[1] == config.certificate)]
        if not found:
            raise dg.Failure(f"no certificate {config.certificate!r} in the spec's "
                             f"certificates.items (known: {', '.join(certs.refs) or 'none'})")
        ref = certs.refs[found[0]]
        if ref is None:
            raise dg.Failure(f"certificate {config.certificate!r} is not managed by "
                             "cert-manager (no cert_manager in the spec): nothing to renew")
        return ref
    raise dg.Failure("renew_certificate needs config namespace and name, or certificate (the "
                     "spec's certificate name)")


@dg.op(name=RENEW_CERTIFICATE_OP, required_resource_keys={"kubernetes"})
def trigger_certificate_renewal(context: dg.OpExecutionContext,
                                config: RenewCertificateConfig) -> str:
    """Set the Certificate's Issuing condition, as ``cmctl renew`` does."""
    certs = _of_job(context.job_def.metadata)
    if not (config.namespace or config.name or config.certificate):
        # launched by the alert sensor with only its tag: the spec's certificate name
        config = RenewCertificateConfig(certificate=context.run.tags.get(TAG_CERTIFICATE, ""),
                                        environment=config.environment)
    namespace, name = resolve_target(certs, config)
    from platform_assets.runs.certificates import trigger_renewal

    outcome = trigger_renewal(context.resources.kubernetes, namespace, name)
    context.log.info(outcome)
    context.add_output_metadata({"certificate": f"{namespace}/{name}", "outcome": outcome})
    return outcome


def build(graph: Graph, resources: Mapping[str, Any] | None = None) -> list[Any]:
    """``audit_certificates`` and ``renew_certificate`` of ``graph``'s environment. Every
    environment's renew job runs the one op, with the environment's certificates and, in a
    fleet, its own Kubernetes resource (from ``resources``, the Definitions') bound as its
    ``kubernetes``."""
    jobs: list[Any] = []
    env = graph.environment
    if graph.by_kind("certificate"):
        keys = [dg.AssetKey(list(n.key)) for n in graph.by_kind("certificate")]
        jobs.append(dg.define_asset_job(
            scoped(AUDIT_CERTIFICATES_JOB, env),
            selection=(dg.AssetSelection.groups("certificates") if env is None
                       else dg.AssetSelection.assets(*keys)),
            description="Check every certificate from its endpoint, cert-manager and IONOS.",
            tags=k8s_tags(AUDIT_CERTIFICATES_JOB),
            executor_def=executor_for(AUDIT_CERTIFICATES_JOB),
        ))

    own = {} if env is None or resources is None else {
        "kubernetes": resources[scoped("kubernetes", env)]}

    @dg.job(name=scoped(RENEW_CERTIFICATE_JOB, env), resource_defs=own,
            metadata=_job_metadata(certificate_refs(graph)),
            tags={TAG_REMEDIATION: RENEW_CERTIFICATE_JOB, **k8s_tags(RENEW_CERTIFICATE_JOB)})
    def renew_certificate() -> None:
        """Ask cert-manager to issue a Certificate again now (like ``cmctl renew``)."""
        trigger_certificate_renewal()

    jobs.append(renew_certificate)
    return jobs

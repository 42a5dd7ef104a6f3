"""audit_certificates (every certificate asset and its check) and renew_certificate.

``renew_certificate`` asks cert-manager to issue a Certificate again now, the way ``cmctl renew``
does: it sets the ``Issuing`` condition to True with reason ``ManuallyTriggered`` through the
status subresource (a PUT carrying the resourceVersion just read, so a concurrent change by
cert-manager is a 409 and is re-read, never overwritten). The alert sensor launches it with
``run_config_for``; a person launches it from the UI with the same config.
"""


from datetime import UTC, datetime
from typing import Any

import dagster as dg

from jobs.executors import executor_for
from jobs.k8s_tags import k8s_tags
from platform_assets.core.certs import CERT_MANAGER_API_VERSION, AlreadyIssuing, renewal_request
from platform_assets.core.graph import Graph
from platform_assets.names import (
    AUDIT_CERTIFICATES_JOB,
    RENEW_CERTIFICATE_JOB,
    RENEW_CERTIFICATE_OP,
    TAG_CERTIFICATE,
    TAG_REMEDIATION,
    scoped,
)
from resources.kubernetes import KubernetesResource


class RenewCertificateConfig(dg.Config):
    """Which Certificate: ``namespace`` and ``name``, or ``certificate``, the spec's name. With
    none of them, the run's ``platform-ops/certificate`` tag names the spec's certificate."""

    namespace: str = ""
    name: str = ""
    certificate: str = ""


def run_config_for(namespace: str = "", name: str = "", certificate: str = "",
                   environment: str | None = None) -> dict[str, Any]:
    """Run config for ``renew_certificate`` of ``environment`` (for sensors and tests)."""
    return {"ops": {scoped(RENEW_CERTIFICATE_OP, environment): {"config": {
        "namespace": namespace, "name": name, "certificate": certificate}}}}


def resolve_target(graph: Graph, config: RenewCertificateConfig) -> tuple[str, str]:
    """The Certificate's (namespace, name); a spec name is looked up in ``certificates.items``.

    Raises:
        dg.Failure: neither form given, or the spec name is unknown or has no cert_manager.
    """
    if config.namespace and config.name:
        return config.namespace, config.name
    if config.certificate:
        for item in graph.spec.certificates.items:
            if item.name == config.certificate or (
                    item.cert_manager and item.cert_manager.name == config.certificate):
                if not item.cert_manager:
                    raise dg.Failure(f"certificate {item.name!r} is not managed by cert-manager "
                                     "(no cert_manager in the spec): nothing to renew")
                return item.cert_manager.namespace, item.cert_manager.name
        known = ", ".join(i.name for i in graph.spec.certificates.items) or "none"
        raise dg.Failure(f"no certificate {config.certificate!r} in the spec's "
                         f"certificates.items (known: {known})")
    raise dg.Failure("renew_certificate needs config namespace and name, or certificate (the "
                     "spec's certificate name)")


def trigger_renewal(kubernetes: KubernetesResource, namespace: str, name: str,
                    now: datetime | None = None, attempts: int = 3) -> str:
    """Set Issuing=True (ManuallyTriggered) on the Certificate; returns what happened.

    Raises:
        dg.Failure: the Certificate does not exist, or kept changing under us.
    """
    from kubernetes.dynamic.exceptions import ConflictError

    for _ in range(attempts):
        cert = kubernetes.get(CERT_MANAGER_API_VERSION, "Certificate", name, namespace)
        if cert is None:
            raise dg.Failure(f"Certificate {namespace}/{name} does not exist")
        try:
            body = renewal_request(cert, now or datetime.now(UTC))
        except AlreadyIssuing as exc:
            return f"skipped: {exc}"
        try:
            kubernetes.replace_status(body)
        except ConflictError:
            continue  # cert-manager wrote in between: read again
        return f"Manually triggered issuance of Certificate {namespace}/{name}"
    raise dg.Failure(f"Certificate {namespace}/{name} changed {attempts} times while setting "
                     "its Issuing condition; try again")


def build(graph: Graph) -> list[Any]:
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

    kube = scoped("kubernetes", env)

    @dg.op(name=scoped(RENEW_CERTIFICATE_OP, env), required_resource_keys={kube})
    def trigger_certificate_renewal(context: dg.OpExecutionContext,
                                    config: RenewCertificateConfig) -> str:
        """Set the Certificate's Issuing condition, as ``cmctl renew`` does."""
        kubernetes: KubernetesResource = getattr(context.resources, kube)
        if not (config.namespace or config.name or config.certificate):
            # launched by the alert sensor with only its tag: the spec's certificate name
            config = RenewCertificateConfig(certificate=context.run.tags.get(TAG_CERTIFICATE, ""))
        namespace, name = resolve_target(graph, config)
        outcome = trigger_renewal(kubernetes, namespace, name)
        context.log.info(outcome)
        context.add_output_metadata({"certificate": f"{namespace}/{name}", "outcome": outcome})
        return outcome

    @dg.job(name=scoped(RENEW_CERTIFICATE_JOB, env),
            tags={TAG_REMEDIATION: RENEW_CERTIFICATE_JOB, **k8s_tags(RENEW_CERTIFICATE_JOB)})
    def renew_certificate() -> None:
        """Ask cert-manager to issue a Certificate again now (like ``cmctl renew``)."""
        trigger_certificate_renewal()

    jobs.append(renew_certificate)
    return jobs

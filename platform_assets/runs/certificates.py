"""What the certificate multi-asset does when a run executes it: observe every selected
certificate (endpoints probed concurrently, cert-manager and IONOS Certificate Manager read),
judge each on its own (``platform_assets.core.certs``) and turn the evaluations into
materializations and ``valid`` check results; and what ``renew_certificate``'s op does to the
Certificate (``trigger_renewal``). The assets are defined in
``platform_assets/certificate_assets.py``, the job in ``jobs/certificates.py``; this module is
imported by the run, not when the code location loads.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.certificate_assets import CHECK_NAME
from platform_assets.core.graph import Node
from platform_assets.scoped_resources import resources_of
from platform_assets.spec.models import Certificate, Certificates, parse_duration

if TYPE_CHECKING:
    from platform_assets.core.certs import CertManagerState, Evaluation, IonosCertState
    from platform_assets.core.ports import CertificateManager, ClusterReader, TlsProbe
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.tls import TlsProbeResource


def observe_selected(context: dg.AssetExecutionContext, nodes: Sequence[Node],
                     by_key: Mapping[dg.AssetKey, Node],
                     items: Mapping[tuple[str, ...], Certificate], section: Certificates,
                     resources: set[str]) -> Iterable[Any]:
    """Observe and judge the selected certificates; a materialization each, and its ``valid``
    check result when selected. ``resources``: the bare names of those the op asked for."""
    selected = [k for k in by_key if k in context.selected_asset_keys]
    chosen = [items[by_key[k].key] for k in selected]
    res = resources_of(context, nodes[0])
    # Typed as the resources, so mypy checks they satisfy the Observer's Protocols.
    tls: TlsProbeResource = res.tls
    kubernetes: KubernetesResource | None = \
        res.kubernetes if "kubernetes" in resources else None
    ionos: IonosCloudResource | None = res.ionos if "ionos" in resources else None
    observer = Observer(tls=tls, kubernetes=kubernetes, ionos=ionos,
                        extra_bundles=_spec_bundles(section))
    results = audit(chosen, section, observer)
    for key in selected:
        ev = results[items[by_key[key].key].name]
        context.log.info(ev.summary())
        yield dg.MaterializeResult(asset_key=key, metadata=_metadata(ev))
        if dg.AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys:
            yield check_result(key, ev)


@dataclass
class Observer:
    """Where the observations come from: the resources (any may be None when unused)."""

    tls: "TlsProbe | None" = None
    kubernetes: "ClusterReader | None" = None
    ionos: "CertificateManager | None" = None
    extra_bundles: Sequence[str] = ()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def observe_cert_manager(kubernetes: "ClusterReader | None",
                         item: Certificate) -> "CertManagerState":
    """Read the Certificate and its TLS Secret; any failure becomes the state's ``error``."""
    from platform_assets.core.certs import (
        CERT_MANAGER_API_VERSION,
        cert_manager_state,
        secret_name_of,
    )

    ref = item.cert_manager
    assert ref is not None
    try:
        if kubernetes is None:
            raise LookupError("no Kubernetes resource configured")
        cert = kubernetes.get(CERT_MANAGER_API_VERSION, "Certificate", ref.name, ref.namespace)
        secret = None
        name = secret_name_of(ref.secret, cert)
        if cert is not None and name:
            secret = kubernetes.get("v1", "Secret", name, ref.namespace)
    except Exception as exc:  # one certificate's API trouble must not stop the audit
        return cert_manager_state(ref.namespace, ref.name, None, None, error=_error_text(exc))
    return cert_manager_state(ref.namespace, ref.name, cert, secret)


def audit(items: Sequence[Certificate], section: Certificates, observer: Observer,
          now: datetime | None = None) -> "dict[str, Evaluation]":
    """Observe and judge ``items``: probe all endpoints concurrently, read cert-manager and IONOS
    Certificate Manager, then evaluate each certificate on its own. Never raises for one
    certificate's fault."""
    from platform_assets.core.certs import (
        Evaluation,
        Finding,
        ProbeTarget,
        evaluate,
        ionos_state,
        thresholds_for,
    )

    now = now or datetime.now(UTC)
    with_endpoint = [i for i in items if i.endpoint]
    probes = {}
    if with_endpoint and observer.tls is not None:
        targets = [ProbeTarget(i.endpoint.host, i.endpoint.port, i.endpoint.sni,  # type: ignore
                               i.endpoint.connect_to) for i in with_endpoint]  # type: ignore
        results = observer.tls.probe(
            targets, extra_bundles=observer.extra_bundles, concurrency=section.concurrency,
            timeout_seconds=parse_duration(section.timeout).total_seconds())
        probes = {i.name: r for i, r in zip(with_endpoint, results, strict=True)}

    ionos_records: dict[str, dict[str, Any]] = {}
    ionos_error: str | None = None
    if any(i.ionos for i in items):
        try:
            if observer.ionos is None:
                raise LookupError("no IONOS resource configured")
            for rec in observer.ionos.list_certificates():
                ionos_records.setdefault(rec.get("name") or "", rec)
        except Exception as exc:
            ionos_error = _error_text(exc)

    out: dict[str, Evaluation] = {}
    for item in items:
        cm = observe_cert_manager(observer.kubernetes, item) if item.cert_manager else None
        io: IonosCertState | None = None
        if item.ionos:
            io = ionos_state(item.ionos.name, ionos_records.get(item.ionos.name), ionos_error)
        try:
            out[item.name] = evaluate(item, thresholds_for(section, item), now,
                                      endpoint=probes.get(item.name), cert_manager=cm, ionos=io)
        except Exception as exc:  # unexpected data for one certificate must not hide the rest
            ev = Evaluation(item.name)
            ev.findings.append(Finding("evaluation-error", "ERROR", "endpoint",
                                       f"could not evaluate: {_error_text(exc)}"))
            out[item.name] = ev
    return out


def _metadata(ev: "Evaluation") -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if ev.days_left is not None:
        meta["days_left"] = dg.MetadataValue.float(float(ev.days_left))
    for k, v in ev.facts.items():
        if isinstance(v, bool):
            meta[k] = dg.MetadataValue.bool(v)
        elif isinstance(v, int | float):
            meta[k] = dg.MetadataValue.float(float(v))
        else:
            meta[k] = dg.MetadataValue.text(str(v))
    meta["reasons"] = dg.MetadataValue.text(", ".join(ev.reasons) or "none")
    if ev.findings:
        rows = "\n".join(f"| {f.severity} | {f.vantage} | {f.reason} | {f.message} |"
                         for f in ev.findings)
        meta["findings"] = dg.MetadataValue.md(
            "| severity | vantage | reason | detail |\n|---|---|---|---|\n" + rows)
    if ev.notes:
        meta["notes"] = dg.MetadataValue.text("; ".join(ev.notes))
    return meta


def check_result(key: dg.AssetKey, ev: "Evaluation") -> dg.AssetCheckResult:
    """The ``valid`` check's result: WARN or ERROR per the worst finding."""
    severity = (dg.AssetCheckSeverity.WARN if ev.severity == "WARN"
                else dg.AssetCheckSeverity.ERROR)
    return dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=ev.passed,
                               severity=severity, metadata=_metadata(ev),
                               description=ev.summary())


def _spec_bundles(section: Certificates) -> list[str]:
    if not section.ca_bundle:
        return []
    from platform_assets.spec.loader import spec_base_dir
    from resources.tls import ca_bundle_path

    return [p for p in [ca_bundle_path(section.ca_bundle, spec_base_dir())] if p]


def trigger_renewal(kubernetes: "KubernetesResource", namespace: str, name: str,
                    now: datetime | None = None, attempts: int = 3) -> str:
    """Set Issuing=True (ManuallyTriggered) on the Certificate; returns what happened.

    Raises:
        dg.Failure: the Certificate does not exist, or kept changing under us.
    """
    from kubernetes.dynamic.exceptions import ConflictError

    from platform_assets.core.certs import (
        CERT_MANAGER_API_VERSION,
        AlreadyIssuing,
        renewal_request,
    )

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

"""Certificate assets and their checks, one per ``certificates.items`` entry of the spec.

One multi-asset observes every selected certificate in a single step, so the endpoints are
probed concurrently (bounded by ``certificates.concurrency``): each certificate still is its own
asset, downstream of the component that serves it, with its own ``valid`` check. Each
certificate is judged on its own; a failure reading one never hides the others' results.
"""


from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.core.graph import Graph, Node
from platform_assets.names import environment_group, scoped
from platform_assets.scoped_resources import resource_keys, resources_of
from platform_assets.spec.models import Certificate, Certificates, parse_duration

if TYPE_CHECKING:
    # What judges certificates is imported by the audit, when a run observes them, not when
    # the code location loads; the resources are imported by the Definitions.
    from platform_assets.core.certs import CertManagerState, Evaluation, IonosCertState
    from platform_assets.core.ports import CertificateManager, ClusterReader, TlsProbe
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.tls import TlsProbeResource

CHECK_NAME = "valid"


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


def _asset_key(node: Node) -> dg.AssetKey:
    return dg.AssetKey(list(node.key))


def _specs(nodes: Iterable[Node]) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=_asset_key(n), deps=[dg.AssetKey(list(d)) for d in n.deps],
            group_name=environment_group(n.group, n.environment), kinds=set(n.kinds),
            owners=list(n.owners),
            description=n.description, code_version=n.code_version, skippable=True,
        )
        for n in nodes
    ]


def build_certificate_assets(graph: Graph) -> tuple[list[Any], list[Any]]:
    """One asset per certificate (in one multi-asset) with a ``valid`` check each."""
    nodes = graph.by_kind("certificate")
    if not nodes:
        return [], []
    section = graph.spec.certificates
    by_key = {_asset_key(n): n for n in nodes}
    items = {n.key: n.section for n in nodes if isinstance(n.section, Certificate)}
    resources = {"tls"}
    if any(i.cert_manager for i in items.values()):
        resources.add("kubernetes")
    if any(i.ionos for i in items.values()):
        resources.add("ionos")
    checks = [dg.AssetCheckSpec(CHECK_NAME, asset=k, description=(
        "Expiry against the thresholds, hostname, chain trust, cert-manager readiness and "
        "renewal, and that the served certificate is the one in the Secret.")) for k in by_key]

    @dg.multi_asset(name=scoped("certificates", graph.environment), specs=_specs(nodes),
                    check_specs=checks, can_subset=True,
                    required_resource_keys=resource_keys(resources, nodes[0]))
    def certificates(context: dg.AssetExecutionContext) -> Iterable[Any]:
        """Observe every selected certificate from its endpoint, cert-manager and IONOS."""
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

    return [certificates], []


def _spec_bundles(section: Certificates) -> list[str]:
    if not section.ca_bundle:
        return []
    from platform_assets.spec.loader import spec_base_dir
    from resources.tls import ca_bundle_path

    return [p for p in [ca_bundle_path(section.ca_bundle, spec_base_dir())] if p]

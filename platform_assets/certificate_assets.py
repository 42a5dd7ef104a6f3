"""Certificate assets and their checks, one per ``certificates.items`` entry of the spec.

One multi-asset observes every selected certificate in a single step, so the endpoints are
probed concurrently (bounded by ``certificates.concurrency``): each certificate still is its own
asset, downstream of the component that serves it, with its own ``valid`` check. Each
certificate is judged on its own; a failure reading one never hides the others' results. This
module defines them; what the multi-asset does when a run executes it is
``platform_assets/runs/certificates.py`` (imported by the run).
"""

from collections.abc import Iterable
from typing import Any

import dagster as dg

from platform_assets.core.graph import Graph, Node
from platform_assets.names import environment_group, scoped
from platform_assets.scoped_resources import resource_keys
from platform_assets.spec.models import Certificate

CHECK_NAME = "valid"


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
        from platform_assets.runs.certificates import observe_selected

        yield from observe_selected(context, nodes, by_key, items, section, resources)

    return [certificates], []

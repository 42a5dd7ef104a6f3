"""The network edge beyond IP blocks and Network Load Balancers, pure parts: the IP block's
outputs wired into a component, NAT gateways and Application Load Balancers (spec errors with
file, line and field; the properties the APIs are sent)."""

from __future__ import annotations

import pytest

from platform_assets.core import outputs
from platform_assets.core.graph import build_graph, component_key, ip_block_key
from platform_assets.spec import SpecError, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

EXAMPLE = DEFAULT_SPEC.read_text()
ANCHOR = "      infrastructure:\n"


def problems(text: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "platform.yaml")
    return str(exc.value)


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def with_ip_input(keys: str = "{ip: INGRESS_IP, ips: INGRESS_IPS}",
                  asset: str = "ip_block/ingress") -> str:
    assert ANCHOR in EXAMPLE
    wiring = (f"        - asset: {asset}\n          config_map: edge-addresses\n"
              f"          keys: {keys}\n")
    return EXAMPLE.replace(ANCHOR, ANCHOR + wiring, 1)


def test_a_component_reads_the_reserved_addresses_and_runs_after_the_block() -> None:
    spec = load_spec_text(with_ip_input(), "platform.yaml")
    comp = spec.component("wordpress")
    graph = build_graph(spec)
    assert ip_block_key("ingress") in graph.nodes[component_key("applications", "wordpress")].deps
    wiring = next(w for w in comp.inputs.infrastructure if w.kind == "ip_block")
    block = {"id": "b1", "properties": {"ips": ["85.215.0.3", "85.215.0.4"]}}
    cm = outputs.output_object(comp, wiring, outputs.ip_block_values(block))
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "edge-addresses"
    assert cm["data"] == {"INGRESS_IP": "85.215.0.3", "INGRESS_IPS": "85.215.0.3,85.215.0.4"}
    # Before the block is reserved (a dry run), the value says so rather than being empty.
    assert outputs.ip_block_values(None)["ip"] == "(known after the IP block is created)"


@pytest.mark.parametrize(("kwargs", "field", "expected"), [
    ({"asset": "ip_block/egress"}, "asset", "unknown infrastructure asset 'ip_block/egress'"),
    ({"keys": "{address: X}"}, "keys.address",
     "ip_block/ingress has no output 'address'; expected one of ['ip', 'ips']"),
])
def test_bad_ip_block_inputs_name_their_line(kwargs: dict[str, str], field: str,
                                             expected: str) -> None:
    text = with_ip_input(**kwargs)
    out = problems(text)
    line = line_of(text, "        - asset: " + kwargs.get("asset", "ip_block/ingress"))
    assert f"applications[0].inputs.infrastructure[0].{field}: {expected}" in out, out
    assert f"platform.yaml:{line if field == 'asset' else line + 2}:" in out, out

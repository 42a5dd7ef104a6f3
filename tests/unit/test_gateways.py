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
    """The line of the last occurrence (the sections under test come after the example's)."""
    lines = text.splitlines()
    return len(lines) - lines[::-1].index(needle)


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


NAT = """\
  nat_gateways:
    - name: egress
      ip_block: {block}
      lans:
        - {{lan: {lan}, gateway_ip: {gateway_ip}}}
      rules:
        - {{name: nodes, source_subnet: {source}}}
        - name: dns
          source_subnet: {other}
          protocol: {protocol}
          target_ports: {{start: 53, end: 53}}
"""
EGRESS_BLOCK = "    - name: egress\n      size: 1\n"


def with_nat(block: str = "egress", lan: str = "k8s-private",
             gateway_ip: str = "10.7.222.1/24", source: str = "10.7.222.0/25",
             other: str = "10.7.222.128/25", protocol: str = "UDP") -> str:
    text = EXAMPLE.replace("  ip_blocks:\n", "  ip_blocks:\n" + EGRESS_BLOCK, 1)
    nat = NAT.format(block=block, lan=lan, gateway_ip=gateway_ip, source=source, other=other,
                     protocol=protocol)
    assert "  dns:\n" in text
    return text.replace("  dns:\n", nat + "  dns:\n", 1)


def test_a_nat_gateway_translates_its_lans_to_its_blocks_address() -> None:
    from platform_assets.core import gateways
    from platform_assets.core.graph import lan_key, nat_gateway_key

    spec = load_spec_text(with_nat(), "platform.yaml")
    (gw,) = spec.ionos.nat_gateways
    node = build_graph(spec).nodes[nat_gateway_key("egress")]
    assert ip_block_key("egress") in node.deps and lan_key("k8s-private") in node.deps
    assert gateways.nat_props(gw, ["85.215.0.9"], {"k8s-private": 1}) == {
        "name": "egress", "publicIps": ["85.215.0.9"],
        "lans": [{"id": 1, "gatewayIps": ["10.7.222.1/24"]}]}
    rules = gateways.nat_rule_props(gw, "85.215.0.9")
    assert rules["nodes"] == {"name": "nodes", "type": "SNAT", "protocol": "ALL",
                              "sourceSubnet": "10.7.222.0/25", "publicIp": "85.215.0.9"}
    assert rules["dns"]["targetPortRange"] == {"start": 53, "end": 53}


@pytest.mark.parametrize(("kwargs", "needle", "field", "expected"), [
    ({"block": "nowhere"}, "      ip_block: nowhere", "ip_block",
     "unknown IP block 'nowhere'; expected one of ['egress', 'ingress']"),
    ({"block": "ingress"}, "      ip_block: ingress", "ip_block",
     "IP block 'ingress' is used by load balancer 'ingress' already"),
    ({"lan": "edge-public"}, "        - {lan: edge-public, gateway_ip: 10.7.222.1/24}",
     "lans[0].lan", "LAN 'edge-public' is public; a NAT gateway connects private LANs"),
    ({"gateway_ip": "10.7.0.1/16"}, "        - {lan: k8s-private, gateway_ip: 10.7.0.1/16}",
     "lans[0].gateway_ip", "10.7.0.0/16 overlaps 10.7.222.0/24 (ionos.mariadb.cidr) on LAN "
     "'k8s-private'"),
    ({"gateway_ip": "10.7.222.100/24"},
     "        - {lan: k8s-private, gateway_ip: 10.7.222.100/24}", "lans[0].gateway_ip",
     "10.7.222.100 is already used on LAN 'k8s-private' by ionos.mariadb.cidr"),
    ({"source": "10.9.0.0/24"}, "        - {name: nodes, source_subnet: 10.9.0.0/24}",
     "rules[0].source_subnet", "10.9.0.0/24 is in no LAN of the gateway (10.7.222.0/24)"),
    ({"other": "10.7.222.0/24"}, None, "rules[1].source_subnet",
     "10.7.222.0/24 overlaps 10.7.222.0/25 of rules[0] (nodes) for the same destinations"),
    ({"protocol": "ICMP"}, None, "rules[1]", "target_ports need protocol TCP or UDP, not ICMP"),
])
def test_bad_nat_gateways_name_file_line_and_field(kwargs: dict[str, str], needle: str | None,
                                                  field: str, expected: str) -> None:
    text = with_nat(**kwargs)
    out = problems(text)
    assert f"ionos.nat_gateways[0].{field}: {expected}" in out, out
    if needle is not None:
        assert f"platform.yaml:{line_of(text, needle)}:" in out, out
    else:
        assert "platform.yaml:" in out


ALB = """\
  target_groups:
    - name: web
      targets:
        - {{node_pool: {pool}, port: 30080}}
      http_health_check: {{path: /healthz, response: "200"}}
  application_load_balancers:
    - name: web
      ip_block: {block}
      listener_lan: {listener}
      target_lan: k8s-private
      private_ip: 10.7.222.11/24
      rules:
        - name: http
          listener_port: 80
          http_rules:
            - name: site
              target_group: {group}
              conditions:
                - {{type: HOST, condition: ENDS_WITH, value: samcloud.online}}
                - {condition}
            - {{name: old, type: REDIRECT, location: "https://www.samcloud.online"}}
"""
WEB_BLOCK = "    - name: web\n      size: 1\n"
PATH_CONDITION = "{type: PATH, condition: STARTS_WITH, value: /}"


def with_alb(block: str = "web", listener: str = "edge-public", group: str = "web",
             pool: str = "application-pool", condition: str = PATH_CONDITION) -> str:
    text = EXAMPLE.replace("  ip_blocks:\n", "  ip_blocks:\n" + WEB_BLOCK, 1)
    alb = ALB.format(block=block, listener=listener, group=group, pool=pool,
                     condition=condition)
    return text.replace("  dns:\n", alb + "  dns:\n", 1)


def test_an_alb_forwards_by_host_and_path_to_a_target_group_of_the_pools_nodes() -> None:
    from platform_assets.core import gateways
    from platform_assets.core.graph import application_load_balancer_key, target_group_key

    spec = load_spec_text(with_alb(), "platform.yaml")
    graph = build_graph(spec)
    alb_node = graph.nodes[application_load_balancer_key("web")]
    assert target_group_key("web") in alb_node.deps and ip_block_key("web") in alb_node.deps
    (tg,) = spec.ionos.target_groups
    props = gateways.target_group_props(tg, {"application-pool": ["10.7.222.30", "10.7.222.4"]})
    assert [t["ip"] for t in props["targets"]] == ["10.7.222.4", "10.7.222.30"]
    assert props["httpHealthCheck"]["path"] == "/healthz" and props["protocol"] == "HTTP"
    (alb,) = spec.ionos.application_load_balancers
    rules = gateways.alb_rule_props(alb, "85.215.0.7", {"web": "tg-1"})
    site, old = rules["http"]["httpRules"]
    assert site == {"name": "site", "type": "FORWARD", "targetGroup": "tg-1", "conditions": [
        {"type": "HOST", "condition": "ENDS_WITH", "value": "samcloud.online", "negate": False},
        {"type": "PATH", "condition": "STARTS_WITH", "value": "/", "negate": False}]}
    assert old["statusCode"] == 301 and old["location"] == "https://www.samcloud.online"
    # Before the group exists (a dry run) the plan says so rather than sending no id.
    unmade = gateways.alb_rule_props(alb, "85.215.0.7", {})["http"]["httpRules"][0]
    assert unmade["targetGroup"] == "(known after the target group is created)"


@pytest.mark.parametrize(("kwargs", "needle", "field", "expected"), [
    ({"group": "api"}, "              target_group: api",
     "rules[0].http_rules[0].target_group",
     "unknown target group 'api'; expected one of ['web']"),
    ({"block": "ingress"}, "      ip_block: ingress", "ip_block",
     "IP block 'ingress' is used by load balancer 'ingress' already"),
    ({"listener": "k8s-private"}, "      listener_lan: k8s-private", "listener_lan",
     "LAN 'k8s-private' is private; the listener lan must be public"),
    ({"condition": "{type: SOURCE_IP, condition: EQUALS, value: 10.0.0.0/8}"},
     "                - {type: SOURCE_IP, condition: EQUALS, value: 10.0.0.0/8}",
     "rules[0].http_rules[0].conditions[1]", "SOURCE_IP takes no condition"),
    ({"condition": "{type: HEADER, condition: EQUALS, value: x}"},
     "                - {type: HEADER, condition: EQUALS, value: x}",
     "rules[0].http_rules[0].conditions[1]", "key is for HEADER, QUERY and COOKIE"),
    ({"condition": "{type: PATH, condition: EXISTS, value: /x}"},
     "                - {type: PATH, condition: EXISTS, value: /x}",
     "rules[0].http_rules[0].conditions[1]", "value is required unless the condition is EXISTS"),
])
def test_bad_application_load_balancers_name_file_line_and_field(
        kwargs: dict[str, str], needle: str, field: str, expected: str) -> None:
    text = with_alb(**kwargs)
    out = problems(text)
    assert f"ionos.application_load_balancers[0].{field}: " in out and expected in out, out
    assert f"platform.yaml:{line_of(text, needle)}:" in out, out


def test_a_target_group_of_a_pool_outside_the_target_lan_is_refused() -> None:
    text = with_alb().replace("      lans: [k8s-private]\n", "", 1)
    out = problems(text)
    assert ("ionos.application_load_balancers[0].rules[0].http_rules[0].target_group: target "
            "group 'web' targets node pool 'application-pool', which is not in the target LAN "
            "'k8s-private'") in out, out
    unknown = problems(with_alb(pool="gpu-pool"))
    assert ("ionos.target_groups[0].targets[0].node_pool: unknown node pool 'gpu-pool'"
            in unknown), unknown

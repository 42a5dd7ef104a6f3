"""The network edge and DNS sections: bad input names file, line and field; the graph wires
certificates after their zone and the ingress after its address; the records the core wants."""

from __future__ import annotations

import pytest

from platform_assets.core import edge
from platform_assets.core.graph import build_graph, dns_zone_key, ip_block_key
from platform_assets.spec import SpecError, load_spec, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

EXAMPLE = DEFAULT_SPEC.read_text()


def edited(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "platform.yaml")
    assert "Traceback" not in str(exc.value)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ('{name: www, ip_block: ingress, ttl: 3600}', '{name: "www..x", ip_block: ingress}',
     "ionos.dns.zones[0].records[1].name", "not a valid record name"),
    ('{name: www, ip_block: ingress, ttl: 3600}', '{name: www, ip_block: ingress, ttl: 30}',
     "ionos.dns.zones[0].records[1].ttl", "greater than or equal to 60"),
    ('{name: www, ip_block: ingress, ttl: 3600}',
     '{name: www.samcloud.online, ip_block: ingress}',
     "ionos.dns.zones[0].records[1].name", "write 'www'"),
    ('{name: https, listener_port: 443, target: ingress-https}',
     '{name: https, listener_port: 443, target: ingress-tls}',
     "ionos.load_balancers[0].rules[0].target", "unknown target 'ingress-tls'"),
    ("private_ip: 10.7.222.10/24", "private_ip: 10.7.0.10/16",
     "ionos.load_balancers[0].private_ip", "overlaps 10.7.222.0/24 (ionos.mariadb.cidr)"),
    ("private_ip: 10.7.222.10/24", "private_ip: 10.7.222.100/24",
     "ionos.load_balancers[0].private_ip", "already used on LAN 'k8s-private'"),
    ("      size: 1\n", "      size: 1\n      location: us/las\n",
     "ionos.load_balancers[0].ip_block", "only listen on addresses reserved in its own"),
    ("listener_lan: edge-public", "listener_lan: k8s-private",
     "ionos.load_balancers[0].listener_lan", "must be public"),
    # www.samcloud.online is a certificate's host: hosts_to gives it an A record already.
    ('{name: www, ip_block: ingress, ttl: 3600}', '{name: www, type: CNAME, content: cdn.x.net}',
     "ionos.dns.zones[0].records[1].type", "cannot coexist"),
    ('{name: "*", ip_block: ingress, ttl: 3600}', '{name: "*", type: AAAA, content: 1.2.3.4}',
     "ionos.dns.zones[0].records[0]", "not an IPv6 address"),
    ("hosts_to: ingress", "hosts_to: edge",
     "ionos.dns.zones[0].hosts_to", "unknown IP block 'edge'"),
    ("fronts: {component: ingress,", "fronts: {component: wordpress,",
     "ionos.load_balancers[0].fronts.component", "not a helm_release"),
    ("- name: samcloud.online\n", "- name: Samcloud.online.\n",
     "ionos.dns.zones[0].name", "not a valid zone name"),
])
def test_bad_edge_input_names_file_line_and_field(old: str, new: str, field: str,
                                                  words: str) -> None:
    text = edited(old, new)
    found = problems(text)
    hit = [p for p in found if f": {field}:" in p and words in p]
    assert hit, found
    assert hit[0].startswith("platform.yaml:")
    line = text.splitlines()[int(hit[0].split(":")[1]) - 1]
    # The line is the one of the field (or of the record holding it), not the file's start.
    key = field.split(".")[-1].split("[")[0]
    assert key in line or new.strip().splitlines()[-1].strip() in line, (hit[0], line)


def test_the_graph_orders_certificates_after_their_zone_and_the_ingress_after_its_address(
        ) -> None:
    graph = build_graph(load_spec(DEFAULT_SPEC))
    zone = dns_zone_key("samcloud.online")
    assert zone in graph.nodes[("certificates", "grafana-samcloud-online")].deps
    assert zone in graph.nodes[("certificates", "cdn-samcloud-online")].deps
    assert ip_block_key("ingress") in graph.nodes[("platform", "ingress")].deps
    assert graph.nodes[zone].kinds == frozenset({"ionos", "dns"})
    lb = graph.nodes[("ionos", "load_balancer", "ingress")]
    assert ("ionos", "node_pool", "application-pool") in lb.deps
    assert lb.group == "infrastructure"


def test_every_host_of_the_spec_gets_a_record_to_the_reserved_address() -> None:
    spec = load_spec(DEFAULT_SPEC)
    zone = spec.ionos.dns.zones[0]
    records = edge.desired_records(spec, zone, {"ingress": "85.215.0.3"})
    assert set(records) == {"@ A", "* A", "alertmanager A", "grafana A", "www A"}
    assert {r["content"] for r in records.values()} == {"85.215.0.3"}
    assert edge.api_record(records["@ A"])["name"] == ""
    before = edge.desired_records(spec, zone, {})
    assert {r["content"] for r in before.values()} == {edge.NOT_RESERVED}


def test_a_changed_certificate_host_changes_the_zone_code_version() -> None:
    before = build_graph(load_spec(DEFAULT_SPEC)).nodes[dns_zone_key("samcloud.online")]
    text = edited("endpoint: {host: grafana.samcloud.online, port: 443}",
                  "endpoint: {host: dashboards.samcloud.online, port: 443}")
    after = build_graph(load_spec_text(text)).nodes[dns_zone_key("samcloud.online")]
    assert before.code_version != after.code_version


def test_rules_forward_to_every_node_of_the_target_pool_in_address_order() -> None:
    lb = load_spec(DEFAULT_SPEC).ionos.load_balancers[0]
    rules = edge.rule_props(lb, "85.215.0.3", {"application-pool": ["10.7.0.20", "10.7.0.3"]})
    assert rules["https"]["listenerPort"] == 443
    assert [(t["ip"], t["port"]) for t in rules["https"]["targets"]] == [
        ("10.7.0.3", 30443), ("10.7.0.20", 30443)]
    assert edge.set_path({"service": {"type": "LoadBalancer"}}, "service.spec.loadBalancerIP",
                         "85.215.0.3") == {"service": {"type": "LoadBalancer",
                                                       "spec": {"loadBalancerIP": "85.215.0.3"}}}

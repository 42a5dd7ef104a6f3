"""The NAT gateway, target group and Application Load Balancer rows of the reconcile engine
against in-memory fakes: created with their rules, a second pass writes nothing, a changed rule
is the only one written (and waits for the window), a removed rule is deleted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from platform_assets.core.graph import (
    application_load_balancer_key,
    nat_gateway_key,
    target_group_key,
)
from platform_assets.engine.gateways import folded
from tests.unit.engine_fakes import make_graph
from tests.unit.test_engine import SUNDAY_WINDOW, World

EDGE = """\
  ip_blocks: [{name: egress}, {name: web}]
  nat_gateways:
    - name: egress
      ip_block: egress
      lans: [{lan: lan-a, gateway_ip: 10.1.0.1/24}]
      rules:
        - {name: nodes, source_subnet: 10.1.0.0/25}
        - {name: rest, source_subnet: 10.1.0.128/25}
  target_groups:
    - {name: web, targets: [{node_pool: pool-a, port: 30080}]}
  application_load_balancers:
    - name: web
      ip_block: web
      listener_lan: pub
      target_lan: lan-a
      private_ip: 10.1.0.11/24
      rules:
        - name: http
          listener_port: 80
          http_rules:
            - name: site
              target_group: web
              conditions: [{type: PATH, condition: STARTS_WITH, value: {path}}]
"""


def edge_spec(path: str = "/", rest: bool = True) -> Callable[[str], str]:
    def edit(spec: str) -> str:
        edge = EDGE.replace("{path}", path)
        if not rest:
            edge = edge.replace("        - {name: rest, source_subnet: 10.1.0.128/25}\n", "")
        spec = spec.replace("  lans: [{name: lan-a}]", "  lans: [{name: lan-a}, {name: pub, "
                            "public: true}]")
        return spec.replace("  buckets:", edge + "  buckets:", 1)
    return edit


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(make_graph(tmp_path / "a", edit=edge_spec()))


def test_gateways_are_created_with_their_rules_then_nothing_is_written(world: World) -> None:
    world.everything()
    writes = {k: v for k, v in world.cloud.writes.items() if "gateway" in k or "target" in k
              or "loadbalancer" in k}
    assert writes == {"create_natgateways": 1, "create_target_group": 1,
                      "create_applicationloadbalancers": 1}
    dc = world.cloud.datacenters[0]["id"]
    nat = folded(world.cloud.find_gateway("natgateways", dc, "egress"), "rules")[0]
    assert nat is not None and nat["properties"]["rulesNames"] == ["nodes", "rest"]
    alb = world.cloud.find_gateway("applicationloadbalancers", dc, "web")
    tg = world.cloud.find_target_group("web")
    assert alb is not None and tg is not None
    (rule,) = alb["entities"]["forwardingrules"]["items"]
    assert rule["properties"]["httpRules"][0]["targetGroup"] == tg["id"]
    assert [t["port"] for t in tg["properties"]["targets"]] == [30080, 30080]  # two nodes
    before = dict(world.cloud.writes)
    assert world.everything() == 0 and dict(world.cloud.writes) == before


def test_a_routing_change_waits_for_the_window_and_writes_only_that_rule(
        world: World, tmp_path: Path) -> None:
    world.everything()
    moved = make_graph(tmp_path / "b", edit=edge_spec(path="/app"))
    key = application_load_balancer_key("web")
    held = world.reconcile(key, moved)
    assert held.plan.summary() == "1 deferred" and held.writes == 0
    world.now = SUNDAY_WINDOW
    done = world.reconcile(key, moved)
    assert done.writes == 1 and world.cloud.writes["update_applicationloadbalancers"] == 1
    dc = world.cloud.datacenters[0]["id"]
    alb = world.cloud.find_gateway("applicationloadbalancers", dc, "web")
    assert alb is not None
    (rule,) = alb["entities"]["forwardingrules"]["items"]
    assert rule["properties"]["httpRules"][0]["conditions"][0]["value"] == "/app"
    assert world.reconcile(key, moved).writes == 0
    assert world.reconcile(target_group_key("web"), moved).writes == 0


def test_a_rule_the_spec_drops_is_deleted_in_the_window(world: World, tmp_path: Path) -> None:
    world.everything()
    fewer = make_graph(tmp_path / "c", edit=edge_spec(rest=False))
    held = world.reconcile(nat_gateway_key("egress"), fewer)
    assert held.plan.summary() == "1 deferred" and held.writes == 0
    world.now = SUNDAY_WINDOW
    out = world.reconcile(nat_gateway_key("egress"), fewer)
    assert out.writes == 1 and "rulesNames" in out.plan.to_markdown()
    dc = world.cloud.datacenters[0]["id"]
    nat = world.cloud.find_gateway("natgateways", dc, "egress")
    assert nat is not None
    assert [r["properties"]["name"] for r in nat["entities"]["rules"]["items"]] == ["nodes"]


def test_a_dry_run_before_anything_exists_plans_the_gateways_and_writes_nothing(
        world: World) -> None:
    for key in (nat_gateway_key("egress"), target_group_key("web"),
                application_load_balancer_key("web")):
        out = world.reconcile(key, dry_run=True)
        assert out.plan.summary() == "1 to create" and out.writes == 0
    assert world.cloud.writes == {}

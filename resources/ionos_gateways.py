"""NAT gateways, Application Load Balancers and target groups of the Cloud API v6
(``ionoscloud`` 6.1) for ``IonosCloudResource``, which mixes ``IonosGateways`` in.

A NAT gateway and an Application Load Balancer are the same shape to the API: a datacenter's
resource with named sub-resources (rules, forwarding rules), created together in one POST
(``entities``) and changed one sub-resource at a time. ``GATEWAYS`` says which SDK calls reach
each; the methods run them through the resource's bounded retries and waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from platform_assets.core.ports import GatewayKind

T = TypeVar("T")
Log = Callable[[str], Any] | None
Json = dict[str, Any]


class _Resource(Protocol):
    """What the mixin uses of ``IonosCloudResource``."""

    def api(self, name: str) -> Any: ...

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T: ...

    def write(self, describe: str, fn: Callable[[], Any],
              log: Log = None) -> tuple[Any, str | None]: ...

    def wait_for_request(self, request_id: str | None, describe: str, *,
                         log: Log = None) -> None: ...

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = ..., *, log: Log = None,
                   target: str = ...) -> T: ...

    def create_once(self, describe: str, create: Callable[[], T], find: Callable[[], Any],
                    log: Log = None) -> Any: ...

    def to_json(self, model: Any) -> Any: ...

    def _find_named(self, items: Any, name: str, key: str = "name") -> Json | None: ...

    def _post_once(self, fn: Callable[[], Any]) -> tuple[Any, str | None]: ...

    def find_gateway(self, kind: GatewayKind, dc_id: str, name: str) -> Json | None: ...

    def gateway_ready(self, kind: GatewayKind, dc_id: str, gw_id: str,
                      log: Log = None) -> Json: ...

    def list_target_groups(self) -> list[Json]: ...

    def find_target_group(self, name: str) -> Json | None: ...

    def target_group_ready(self, tg_id: str, log: Log = None) -> Json: ...


@dataclass(frozen=True)
class _Calls:
    """The SDK calls that reach one kind (``api`` is an ``ionoscloud`` API object)."""

    api: str
    path: str  # the collection under the datacenter
    sub: str  # the sub-resources' collection under the resource
    list: Callable[[Any, str], Any]
    get: Callable[[Any, str, str], Any]
    post: Callable[[Any, str, Json], Any]
    patch: Callable[[Any, str, str, Json], Any]
    sub_post: Callable[[Any, str, str, Json], Any]
    sub_put: Callable[[Any, str, str, str, Json], Any]
    sub_delete: Callable[[Any, str, str, str], Any]


GATEWAYS: dict[GatewayKind, _Calls] = {
    "natgateways": _Calls(
        api="NATGatewaysApi", path="natgateways", sub="rules",
        list=lambda a, dc: a.datacenters_natgateways_get(dc, depth=3),
        get=lambda a, dc, i: a.datacenters_natgateways_find_by_nat_gateway_id(dc, i, depth=2),
        post=lambda a, dc, b: a.datacenters_natgateways_post_with_http_info(dc, b),
        patch=lambda a, dc, i, p: a.datacenters_natgateways_patch_with_http_info(dc, i, p),
        sub_post=lambda a, dc, i, b: a.datacenters_natgateways_rules_post_with_http_info(
            dc, i, b),
        sub_put=lambda a, dc, i, r, b: a.datacenters_natgateways_rules_put_with_http_info(
            dc, i, r, b),
        sub_delete=lambda a, dc, i, r: a.datacenters_natgateways_rules_delete_with_http_info(
            dc, i, r)),
    "applicationloadbalancers": _Calls(
        api="ApplicationLoadBalancersApi", path="applicationloadbalancers", sub="forwardingrules",
        list=lambda a, dc: a.datacenters_applicationloadbalancers_get(dc, depth=3),
        get=lambda a, dc, i: a.
        datacenters_applicationloadbalancers_find_by_application_load_balancer_id(
            dc, i, depth=2),
        post=lambda a, dc, b: a.datacenters_applicationloadbalancers_post_with_http_info(dc, b),
        patch=lambda a, dc, i, p: a.datacenters_applicationloadbalancers_patch_with_http_info(
            dc, i, p),
        sub_post=lambda a, dc, i, b: a.
        datacenters_applicationloadbalancers_forwardingrules_post_with_http_info(dc, i, b),
        sub_put=lambda a, dc, i, r, b: a.
        datacenters_applicationloadbalancers_forwardingrules_put_with_http_info(dc, i, r, b),
        sub_delete=lambda a, dc, i, r: a.
        datacenters_applicationloadbalancers_forwardingrules_delete_with_http_info(dc, i, r)),
}


def _failed(obj: Any) -> str | None:
    state = str(obj.metadata.state)
    return f"state {state}" if "FAILED" in state else None


def _sub_request(calls: _Calls, api: Any, ids: tuple[str, str], name: str, sub_id: str | None,
                 want: Json | None) -> tuple[str, Callable[[], Any]] | None:
    """(the request in words, the SDK call) that brings one sub-resource to ``want``."""
    dc_id, gw_id = ids
    base = f"/datacenters/{dc_id}/{calls.path}/{gw_id}/{calls.sub}"
    if want is None:
        if sub_id is None:
            return None
        sid = sub_id
        return (f"DELETE {base}/{sid} ({name})",
                lambda: calls.sub_delete(api, dc_id, gw_id, sid))
    body = {"properties": want}
    if sub_id is not None:
        sid = sub_id
        return (f"PUT {base}/{sid} ({name})",
                lambda: calls.sub_put(api, dc_id, gw_id, sid, body))
    return f"POST {base} ({name})", lambda: calls.sub_post(api, dc_id, gw_id, body)


class IonosGateways:
    """NAT gateways and Application Load Balancers (``GATEWAYS``), and target groups."""

    def list_gateways(self: _Resource, kind: GatewayKind, dc_id: str) -> list[Json]:
        """The datacenter's resources of ``kind`` with their sub-resources (depth 3: the list,
        each resource, its sub-resource collection, their properties)."""
        calls = GATEWAYS[kind]
        api = self.api(calls.api)
        out = self.call(f"GET /datacenters/{dc_id}/{kind}", lambda: calls.list(api, dc_id))
        return list((self.to_json(out) or {}).get("items", []))

    def find_gateway(self: _Resource, kind: GatewayKind, dc_id: str, name: str) -> Json | None:
        """The datacenter's resource of ``kind`` named ``name`` (JSON, sub-resources
        included)."""
        return self._find_named({"items": IonosGateways.list_gateways(self, kind, dc_id)}, name)

    def gateway_ready(self: _Resource, kind: GatewayKind, dc_id: str, gw_id: str,
                      log: Log = None) -> Json:
        """Poll until AVAILABLE; its JSON with the sub-resources (depth 2)."""
        calls = GATEWAYS[kind]
        api = self.api(calls.api)
        return dict(self.to_json(self.wait_until(
            f"GET /datacenters/{dc_id}/{kind}/{gw_id}", lambda: calls.get(api, dc_id, gw_id),
            lambda g: g.metadata.state == "AVAILABLE", _failed, log=log, target="AVAILABLE")))

    def create_gateway(self: _Resource, kind: GatewayKind, dc_id: str, props: Json,
                       subs: list[Json], log: Log = None) -> Json:
        """Create the resource with its sub-resources (one request, as ``entities``) and wait
        until it is AVAILABLE; after a transient failure the name is looked up first."""
        calls = GATEWAYS[kind]
        api = self.api(calls.api)
        describe = f"POST /datacenters/{dc_id}/{kind} ({props['name']})"
        body = {"properties": props,
                "entities": {calls.sub: {"items": [{"properties": s} for s in subs]}}}

        def create() -> Json:
            made, rid = self._post_once(lambda: calls.post(api, dc_id, body))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(made))

        out = self.create_once(describe, create,
                               lambda: self.find_gateway(kind, dc_id, props["name"]), log)
        return self.gateway_ready(kind, dc_id, out["id"], log)

    def update_gateway(self: _Resource, kind: GatewayKind, dc_id: str, gw_id: str,
                       props: Json | None, subs: dict[str, Json | None],
                       sub_ids: dict[str, str], log: Log = None) -> None:
        """PATCH the properties (unless None), then write each sub-resource: ``subs`` maps a
        name to its properties (PUT, or POST when ``sub_ids`` has no id for it) or to None
        (DELETE); every request is waited for."""
        calls = GATEWAYS[kind]
        api = self.api(calls.api)
        base = f"/datacenters/{dc_id}/{kind}/{gw_id}"
        pending: list[tuple[str | None, str]] = []
        if props is not None:
            _, rid = self.write(f"PATCH {base}", lambda: calls.patch(api, dc_id, gw_id, props),
                                log)
            pending.append((rid, f"PATCH {base}"))
        for name, want in sorted(subs.items()):
            request = _sub_request(calls, api, (dc_id, gw_id), name, sub_ids.get(name), want)
            if request is not None:
                pending.append((self.write(request[0], request[1], log)[1], request[0]))
        for rid, describe in pending:
            self.wait_for_request(rid, describe, log=log)

    def list_target_groups(self: _Resource) -> list[Json]:
        """Every target group of the contract (JSON, depth 1)."""
        api = self.api("TargetGroupsApi")
        out = self.call("GET /targetgroups", lambda: api.targetgroups_get(depth=1))
        return list((self.to_json(out) or {}).get("items", []))

    def find_target_group(self: _Resource, name: str) -> Json | None:
        """The target group named ``name`` (JSON), or None."""
        return self._find_named({"items": IonosGateways.list_target_groups(self)}, name)

    def target_group_ready(self: _Resource, tg_id: str, log: Log = None) -> Json:
        """Poll the target group until it is AVAILABLE."""
        api = self.api("TargetGroupsApi")
        return dict(self.to_json(self.wait_until(
            f"GET /targetgroups/{tg_id}",
            lambda: api.targetgroups_find_by_target_group_id(tg_id, depth=1),
            lambda g: g.metadata.state == "AVAILABLE", _failed, log=log, target="AVAILABLE")))

    def create_target_group(self: _Resource, props: Json, log: Log = None) -> Json:
        """Create a target group and wait until it is AVAILABLE (never twice)."""
        api = self.api("TargetGroupsApi")
        describe = f"POST /targetgroups ({props['name']})"

        def create() -> Json:
            made, rid = self._post_once(lambda: api.targetgroups_post_with_http_info(
                {"properties": props}))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(made))

        out = self.create_once(describe, create, lambda: self.find_target_group(props["name"]),
                               log)
        return self.target_group_ready(out["id"], log)

    def update_target_group(self: _Resource, tg_id: str, props: Json, log: Log = None) -> Json:
        """PUT the target group's properties (its targets included) and wait."""
        api = self.api("TargetGroupsApi")
        describe = f"PUT /targetgroups/{tg_id}"
        _, rid = self.write(describe, lambda: api.targetgroups_put_with_http_info(
            tg_id, {"properties": props}), log)
        self.wait_for_request(rid, describe, log=log)
        return self.target_group_ready(tg_id, log)

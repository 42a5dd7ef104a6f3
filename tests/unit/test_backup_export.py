"""Resource export: kinds the run's account may not list are reported, not fatal; so are
include_kinds the cluster does not serve."""

from __future__ import annotations

from typing import Any

import pytest

from platform_assets.backups.sources import export_namespace, not_served_kinds


class Forbidden(Exception):
    status = 403


class Gone(Exception):
    status = 404


class Kube:
    def __init__(self, denied: set[str], gone: frozenset[str] = frozenset()):
        self.denied = denied
        self.gone = gone

    def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        if kind in self.denied:
            raise Forbidden(f"{kind} is forbidden")
        if kind in self.gone:
            raise Gone(f"{kind}: 404 Not Found")
        return [{"metadata": {"name": f"{kind.lower()}-1", "namespace": namespace,
                              "managedFields": [{"manager": "x"}]}}]


KINDS = (("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment"))


def test_forbidden_kinds_are_listed_and_the_rest_exported() -> None:
    forbidden: list[str] = []
    items = export_namespace(Kube({"Deployment"}), "web", False, KINDS, forbidden)
    assert [(o["kind"], o["metadata"]["name"]) for o in items] == [("ConfigMap", "configmap-1")]
    assert "managedFields" not in items[0]["metadata"]
    assert forbidden == ["apps/v1/Deployment"]


def test_secrets_only_when_asked_and_other_errors_propagate() -> None:
    items = export_namespace(Kube(set()), "web", True, KINDS, [])
    assert {o["kind"] for o in items} == {"ConfigMap", "Secret", "Deployment"}
    with pytest.raises(Forbidden):
        export_namespace(Kube({"ConfigMap"}), "web", False, KINDS)


def test_a_kind_no_longer_served_has_nothing_to_export() -> None:
    # Its CRD deleted between discovery and the list: the list answers 404.
    items = export_namespace(Kube(set(), frozenset({"Deployment"})), "web", False, KINDS, [])
    assert [o["kind"] for o in items] == ["ConfigMap"]


def test_include_kinds_discovery_does_not_serve_are_named() -> None:
    """An include_kinds entry is served when discovery lists its group and kind, in any version
    (the export lists the group's preferred one); a CRD not installed, or a kind of another
    group, is named."""
    discovered = (("v1", "Endpoints"), ("example.com/v1", "Widget"))
    assert not_served_kinds(["v1/Endpoints", "example.com/v1beta1/Widget"], discovered) == []
    assert not_served_kinds(["other.io/v1/Widget", "v1/Widget", "v1/Endpoints"],
                            discovered) == ["other.io/v1/Widget", "v1/Widget"]

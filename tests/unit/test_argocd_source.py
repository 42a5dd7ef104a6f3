"""Argo CD Applications as a component source: the spec's checks, the Application and the sync
request we send, and how health is read from the Application's status."""

from __future__ import annotations

import pytest

from platform_assets.core import desired
from platform_assets.core.health import argocd_health
from platform_assets.spec import SpecError, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

EXAMPLE = DEFAULT_SPEC.read_text()
APP = """
  - name: guestbook
    namespace: guestbook
    source:
      argocd_application:
        repo_url: https://github.com/argoproj/argocd-example-apps.git
{extra}
"""


def _spec(extra: str) -> str:
    anchor = "applications:\n"
    assert anchor in EXAMPLE
    return EXAMPLE.replace(anchor, anchor + APP.replace("{extra}", extra).lstrip("\n"), 1)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_application_with_neither_path_nor_chart_names_file_line_and_field() -> None:
    text = _spec("        target_revision: HEAD")
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "bad.yaml")
    (p,) = info.value.problems
    assert p.path == "applications[0].source.argocd_application"
    # The loader names a mapping by its first line (the Application's first key).
    assert p.line == _line_of(text, "argocd_application:") + 1
    assert "needs path" in p.message and "neither" in p.message
    assert f"bad.yaml:{p.line}: applications[0].source.argocd_application" in str(info.value)


def test_both_path_and_chart_and_a_malformed_sync_option_are_refused() -> None:
    with pytest.raises(SpecError, match="not both"):
        load_spec_text(_spec("        path: guestbook\n        chart: guestbook"), "bad.yaml")
    text = _spec("        path: guestbook\n        sync_policy: {sync_options: [CreateNamespace]}")
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "bad.yaml")
    (p,) = info.value.problems
    assert p.path.startswith("applications[0].source.argocd_application.sync_policy")
    assert "Name=value" in p.message


def _component(extra: str):  # type: ignore[no-untyped-def]
    return load_spec_text(_spec(extra), "ok.yaml").component("guestbook")


def test_the_application_is_what_argocd_app_create_would_write() -> None:
    """The Application's shape: argo-cd ``manifests/crds/application-crd.yaml`` (spec.source
    repoURL/path/chart/targetRevision/helm.valuesObject, spec.destination server/namespace,
    spec.syncPolicy automated prune/selfHeal and syncOptions)."""
    comp = _component("        chart: guestbook\n        target_revision: 1.2.0\n"
                      "        values: {replicas: 2}\n"
                      "        sync_policy: {automated: true, self_heal: true, "
                      "sync_options: [CreateNamespace=true]}")
    objs = desired.component_objects(comp, [])
    app = objs.argocd
    assert app is not None and app in objs.objects and objs.flux is None
    assert app["metadata"]["namespace"] == "argocd"
    assert app["metadata"]["labels"]["platform-ops/component"] == "guestbook"
    assert app["spec"] == {
        "project": "default",
        "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                   "targetRevision": "1.2.0", "chart": "guestbook",
                   "helm": {"valuesObject": {"replicas": 2}}},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
        "syncPolicy": {"automated": {"prune": False, "selfHeal": True},
                       "syncOptions": ["CreateNamespace=true"]}}


def test_the_sync_request_is_the_operation_argocd_app_sync_sets() -> None:
    """argo-cd ``server/application/application.go`` ``Sync`` builds an Operation with
    ``sync.revision``, ``prune``, ``syncOptions``, ``initiatedBy.username`` and ``info``;
    ``util/argo.SetAppOperation`` sets it and clears ``status.operationState``."""
    comp = _component("        path: guestbook\n"
                      "        sync_policy: {sync_options: [CreateNamespace=true]}")
    app = desired.component_objects(comp, []).argocd
    assert app is not None
    patch = desired.argocd_sync_request(app, "2026-01-01T00:00:00.000000Z")
    assert patch == {
        "operation": {"sync": {"revision": "HEAD", "prune": False,
                               "syncOptions": ["CreateNamespace=true"]},
                      "initiatedBy": {"username": "platform-ops"},
                      "info": [{"name": "requestedAt", "value": "2026-01-01T00:00:00.000000Z"}]},
        "status": {"operationState": None}}


SPEC = {"source": {"repoURL": "r", "path": "p", "targetRevision": "HEAD"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "g"}}


def _app(status: dict[str, object]) -> dict[str, object]:
    return {"kind": "Application", "spec": SPEC, "status": status}


def _synced(**extra: object) -> dict[str, object]:
    return {"sync": {"status": "Synced", "comparedTo": SPEC, "revision": "abc"},
            "health": {"status": "Healthy"}, **extra}


def test_health_needs_synced_healthy_and_our_sync_succeeded() -> None:
    """Fields from argo-cd ``pkg/apis/application/v1alpha1/types.go``: status.sync.status
    (Synced/OutOfSync/Unknown) with comparedTo, status.health.status (Healthy, Progressing,
    Degraded, Missing, ...), status.operationState.phase (Running, Succeeded, Failed, Error)."""
    asked = "2026-01-01T00:00:00Z"
    mine = {"operation": {"info": [{"name": "requestedAt", "value": asked}]}}
    assert argocd_health(None, None) == (False, "does not exist")
    assert argocd_health(_app(_synced()), None) == (True, "")
    assert argocd_health(_app(_synced()), asked)[1] == \
        "Argo CD has not started the requested sync yet"
    running = _synced(operationState={**mine, "phase": "Running", "message": "syncing"})
    assert argocd_health(_app(running), asked) == (False, "sync Running: syncing")
    failed = _synced(operationState={**mine, "phase": "Failed", "message": "boom"})
    assert argocd_health(_app(failed), asked) == (False, "sync Failed: boom")
    done = _synced(operationState={**mine, "phase": "Succeeded"})
    assert argocd_health(_app(done), asked) == (True, "")
    stale = {**_synced(), "sync": {"status": "Synced", "comparedTo": {"source": {}}}}
    assert argocd_health(_app(stale), None)[1] == "Argo CD has not compared the current spec yet"
    out = {**_synced(), "sync": {"status": "OutOfSync", "comparedTo": SPEC}}
    assert argocd_health(_app(out), None) == (False, "sync status OutOfSync")
    degraded = {**_synced(), "health": {"status": "Degraded", "message": "pod crash"}}
    assert argocd_health(_app(degraded), None) == (False, "health Degraded: pod crash")
    invalid = _synced(conditions=[{"type": "InvalidSpecError", "message": "no project"}])
    assert argocd_health(_app(invalid), None) == (False, "InvalidSpecError: no project")


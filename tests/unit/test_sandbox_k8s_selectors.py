"""Label and field selector parsing and matching of the sandbox Kubernetes API."""

from __future__ import annotations

import pytest

from sandbox.kubernetes.selectors import (
    SelectorError,
    field_matcher,
    label_matcher,
    parse_label_selector,
)


def _obj(**labels: str) -> dict[str, object]:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels},
            "status": {"phase": "Running"}, "spec": {"unschedulable": True}}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("", {}, True),
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("tier in (a,b)", {"tier": "b"}, True),
    ("tier in (a, b)", {"tier": "c"}, False),
    ("tier notin (a)", {}, True),
    ("tier notin (a)", {"tier": "a"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("!app", {}, True),
    ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a"}, True),
    ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a", "legacy": "1"}, False),
    ("app.kubernetes.io/name=x", {"app.kubernetes.io/name": "x"}, True),
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas<2", {"replicas": "3"}, False),
])
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_matcher(selector)(_obj(**labels)) is expected


@pytest.mark.parametrize("bad", ["a in (b", "a in ()", "=x", "a b", "a>b"])
def test_malformed_label_selectors_raise(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selector_on_allowed_fields() -> None:
    allowed = ("status.phase", "spec.unschedulable")
    assert field_matcher("metadata.name=x,metadata.namespace==ns", ())(_obj())
    assert not field_matcher("metadata.name!=x", ())(_obj())
    assert field_matcher("status.phase=Running", allowed)(_obj())
    assert field_matcher("spec.unschedulable=true", allowed)(_obj())
    assert field_matcher("", ())(_obj())


def test_field_selector_rejects_unknown_fields() -> None:
    with pytest.raises(SelectorError, match="field label not supported: data.a"):
        field_matcher("data.a=1", ("status.phase",))

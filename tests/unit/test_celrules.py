"""The sandbox's CRD validation rules (sandbox/kubernetes/celrules.py) on values alone: property
name escaping, how values are typed for CEL, correlation of old values and ratcheting.

Sources: k8s.io/apiserver v1.32 pkg/cel/escaping.go (Escape), pkg/cel/common/values.go
(UnstructuredToVal, unstructuredSetList/MapList.Equal), k8s.io/apiextensions-apiserver v1.32
pkg/apiserver/schema/cel/validation.go (validateExpressions, validateArray, ratcheting).
"""

from __future__ import annotations

from typing import Any

from sandbox.kubernetes import celrules


def test_property_names_escape_as_kubernetes_escapes_them() -> None:
    """escaping.go: reserved words in underscores, ``__``, ``.``, ``-``, ``/`` spelled out, a
    leading digit or another character not escapable."""
    assert celrules.escape("namespace") == "__namespace__"
    assert celrules.escape("a-b.c/d") == "a__dash__b__dot__c__slash__d"
    assert celrules.escape("x__y") == "x__underscores__y"
    assert celrules.escape("plain_name") == "plain_name"
    assert celrules.escape("1st") is None
    assert celrules.escape("a b") is None


def rule(source: str, **extra: Any) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": source, **extra}]}


def spec_schema(props: dict[str, Any], **rules: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": props,
                                                      **rules}}}


def obj(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w"},
            "spec": spec}


def test_values_are_typed_by_their_schema() -> None:
    """A set list equals itself in any order, a ``date`` string is a timestamp, an
    int-or-string keeps its JSON type, a number is a double, and an undeclared field is not
    visible (``has`` is false)."""
    schema = spec_schema({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "day": {"type": "string", "format": "date"},
        "port": {"x-kubernetes-int-or-string": True},
        "ratio": {"type": "number"}},
        **rule("self.tags == ['b', 'a'] && self.day < timestamp('2030-01-01T00:00:00Z') && "
               "type(self.port) == string && type(self.ratio) == double && !has(self.hidden)"))
    out = celrules.validate(schema, obj({"tags": ["a", "b"], "day": "2026-11-26",
                                         "port": "http", "ratio": 1, "hidden": 1}), None)
    assert out.causes == [] and out.warnings == []


def test_map_list_items_correlate_by_key_and_unchanged_values_ratchet() -> None:
    """A transition rule on a map list's item sees the old item with the same key (a new key
    has none, so the rule is skipped); a rule without ``oldSelf`` failing on an unchanged
    value is a warning, on a changed one an error."""
    schema = spec_schema({
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"], "items": {
                      "type": "object", "properties": {
                          "name": {"type": "string"},
                          "port": {"type": "integer", **rule("self >= oldSelf")}}}},
        "limit": {"type": "integer", **rule("self < 10", message="limit below 10")}})
    old = obj({"ports": [{"name": "a", "port": 5}], "limit": 20})
    new = obj({"ports": [{"name": "b", "port": 1}, {"name": "a", "port": 4}], "limit": 20})
    out = celrules.validate(schema, new, old)
    assert out.causes == [("spec.ports[1].port", 'Invalid value: "integer": failed rule: '
                           "self >= oldSelf")]
    assert out.warnings == ['spec.limit: Invalid value: "integer": limit below 10']
    out = celrules.validate(schema, obj({"ports": [], "limit": 30}), old)
    assert out.causes == [("spec.limit", 'Invalid value: "integer": limit below 10')]


def test_a_root_rule_reports_at_nil_and_sees_only_the_name_of_metadata() -> None:
    """The resource root's errors have no path (``<nil>``); its ``metadata`` is only
    ``name`` and ``generateName``, so a rule reading its labels does not compile."""
    schema = {"type": "object", **rule("self.metadata.name.startsWith('x')",
                                       reason="FieldValueForbidden", message="x names only")}
    out = celrules.validate(schema, obj({}), None)
    assert out.causes == [("<nil>", "Forbidden: x names only")]
    labels = celrules.compiled("has(self.metadata.labels)")
    assert celrules.undefined_fields(labels, schema, True, False) == [
        "ERROR: <input>:1:18: undefined field 'labels'\n | has(self.metadata.labels)\n"
        " | .................^"]

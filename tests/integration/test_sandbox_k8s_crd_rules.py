"""CRD validation rules (``x-kubernetes-validations``, CEL) in the sandbox Kubernetes API, through
the kubernetes Python client, raw HTTP and kubectl.

Sources of each behaviour (named again at each test):
- [docs] Kubernetes docs "Extend the Kubernetes API with CustomResourceDefinitions", section
  "Validation rules" (kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
  custom-resource-definitions/#validation-rules): ``self``, transition rules on ``oldSelf``,
  ``optionalOldSelf``, ``message``, ``messageExpression``, ``reason``, ``fieldPath``.
- [validation.go] k8s.io/apiextensions-apiserver v1.32 pkg/apiserver/schema/cel/validation.go:
  ``validateExpressions`` (the error ``<path>: Invalid value: "<type>": <message>``, the root
  as ``<nil>``, ``failed rule: <rule>``, transition rules skipped without an old value,
  ``fieldErrorForReason``), ``validateArray``/``validateMap`` (map-list items correlate by
  key), ratcheting (a failure on an unchanged value is a warning).
- [values.go] k8s.io/apiserver v1.32 pkg/cel/common/values.go: ``unstructuredMap.Equal``
  compares unknown preserved fields too; ``date-time``/``duration`` strings are CEL
  timestamps/durations.
- [strategy.go] k8s.io/apiextensions-apiserver v1.32 pkg/registry/customresource/strategy.go:
  rules run on create, update and status updates, not after a blocking schema error
  (``hasBlockingErr``: ``some validation rules were not checked ...``).
- [crd validation] k8s.io/apiextensions-apiserver v1.32 pkg/apis/apiextensions/validation/
  validation.go: a rule that does not compile, an unsupported reason, ``oldSelf`` under a
  list that is not a map list are refused with the CRD (422).
- [flux] fluxcd/helm-controller v1.3.0 (Flux v2.6.4) config/crd/bases/
  helm.toolkit.fluxcd.io_helmreleases.yaml: v2 ``spec`` rule "either chart or chartRef must be
  set".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from sandbox.kubernetes import catalogue
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL, NS = "example.com", "v1", "widgets", "default"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
BASE = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}"

SPEC: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.minReplicas <= self.maxReplicas",
         "message": "minReplicas must not exceed maxReplicas"},
        {"rule": "!has(self.tier) || self.tier != 'gold' || has(self.owner)",
         "reason": "FieldValueRequired", "fieldPath": ".owner",
         "message": "a gold tier needs an owner"}],
    "properties": {
        "minReplicas": {"type": "integer"},
        "maxReplicas": {"type": "integer", "maximum": 100},
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "name is immutable"}]},
        "revision": {"type": "integer", "x-kubernetes-validations": [
            {"rule": "oldSelf.hasValue() || self == 1", "optionalOldSelf": True,
             "message": "a new widget starts at revision 1"}]},
        "tier": {"type": "string"},
        "owner": {"type": "string"},
        "color": {"type": "string", "enum": ["red", "blue"]},
        "tags": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self.size() <= 8",
             "messageExpression": "'tag ' + self + ' is longer than 8 characters'"}]}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"},
                      "port": {"type": "integer", "x-kubernetes-validations": [
                          {"rule": "self >= oldSelf", "reason": "FieldValueForbidden",
                           "message": "a port may only grow"}]}}}},
        "labels": {"type": "object", "additionalProperties": {
            "type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]}},
        "frozen": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "x-kubernetes-validations": [
                       {"rule": "self == oldSelf", "message": "frozen is immutable"}]},
        "window": {"type": "string", "format": "duration", "x-kubernetes-validations": [
            {"rule": "self <= duration('24h')", "message": "a window lasts a day at most"}]},
    }}
STATUS: dict[str, Any] = {
    "type": "object", "properties": {"phase": {"type": "string"}},
    "x-kubernetes-validations": [
        {"rule": "!has(oldSelf.phase) || oldSelf.phase != 'Done' || self.phase == 'Done'",
         "message": "a Done widget stays Done"}]}


def crd(plural: str, kind: str, spec: dict[str, Any], root_rules: list[Any] | None = None,
        status: dict[str, Any] | None = None) -> dict[str, Any]:
    root: dict[str, Any] = {"type": "object", "properties": {"spec": spec}}
    if status is not None:
        root["properties"]["status"] = status
    if root_rules:
        root["x-kubernetes-validations"] = root_rules
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                     "versions": [{"name": VERSION, "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": root}}]}}


WIDGETS = crd(PLURAL, "Widget", SPEC, [{"rule": "self.metadata.name.startsWith('w-')",
                                        "message": "names start with w-"}], STATUS)


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    gen = _start(Path(tmp_path_factory.mktemp("crdrules")), preinstall_crds=False)
    cluster = next(gen)
    code, body = cluster.http("POST", CRD_PATH, WIDGETS)
    assert code == 201, body
    yield cluster
    next(gen, None)


def widget(object_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
            "metadata": {"name": object_name},
            "spec": {"minReplicas": 1, "maxReplicas": 2, **spec}}


def objects(k8s: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s.api_client())


def refused(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The Status of a call the server refuses with 422."""
    with pytest.raises(ApiException) as exc:
        call(*args, **kwargs)
    assert exc.value.status == 422, exc.value.body
    body: dict[str, Any] = json.loads(exc.value.body)
    assert body["reason"] == "Invalid"
    return body


def causes(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["field"], c["reason"], c["message"]) for c in status["details"]["causes"]]


def merge(k8s: Cluster, name: str, patch: dict[str, Any], sub: str = "",
          dry_run: bool = False) -> tuple[int, Any, str]:
    """A merge patch over raw HTTP: (status, body, Warning header)."""
    path = f"{BASE}/{name}" + (f"/{sub}" if sub else "") + ("?dryRun=All" if dry_run else "")
    req = urllib.request.Request(k8s.url + path, data=json.dumps(patch).encode(),
                                 method="PATCH", headers={
                                     "Content-Type": "application/merge-patch+json",
                                     **k8s.auth})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Warning") or ""
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Warning") or ""


def test_a_crd_whose_rules_do_not_compile_is_refused(k8s: Cluster) -> None:
    """A rule that does not parse, one that selects a field its schema does not declare (here
    an unknown field of a preserved object), an unsupported ``reason`` and ``oldSelf`` under a
    list that is not a map list are refused with the CRD, each at its schema path.

    Source: [crd validation] (ValidateCustomResourceDefinitionOpenAPISchema: compilation
    failed, supportedValidationReason, "oldSelf cannot be used on the uncorrelatable portion
    of the schema within ..."), [validation.go] tests ("has(self.withUnknown.field1)":
    "undefined field 'field1'"; common.SchemaDeclType exposes declared fields only), [docs]
    ("Validation rules": the rule is compiled when the CRD is created or updated).
    """
    ext = client.ApiextensionsV1Api(k8s.api_client())
    spec = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.a ==", "message": "broken"}, {"rule": "has(self.o.field1)"}],
        "properties": {
        "o": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "a": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self != ''", "reason": "FieldValueWrong"}]},
        "l": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf"}]}}}}
    status = refused(ext.create_custom_resource_definition, crd("gadgets", "Gadget", spec))
    base = "spec.versions[0].schema.openAPIV3Schema.properties[spec]"
    found = {f: (r, m) for f, r, m in causes(status)}
    reason, message = found[f"{base}.x-kubernetes-validations[0].rule"]
    assert reason == "FieldValueInvalid"
    assert ": compilation failed: ERROR: <input>:1:" in message and "Syntax error" in message
    assert message.startswith('Invalid value: apiextensions.ValidationRule{Rule:"self.a ==", '
                              'Message:"broken"')
    assert found[f"{base}.x-kubernetes-validations[1].rule"][1].endswith(
        "compilation failed: ERROR: <input>:1:11: undefined field 'field1'\n"
        " | has(self.o.field1)\n | ..........^")
    assert found[f"{base}.properties[a].x-kubernetes-validations[0].reason"] == (
        "FieldValueNotSupported", 'Unsupported value: "FieldValueWrong": supported values: '
        '"FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", '
        '"FieldValueRequired"')
    assert found[f"{base}.properties[l].items.x-kubernetes-validations[0].rule"][1] == (
        'Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable '
        f"portion of the schema within {base}.properties[l]")
    assert k8s.http("GET", f"{CRD_PATH}/gadgets.{GROUP}")[0] == 404


def test_rules_refuse_a_create_at_their_node_path(k8s: Cluster) -> None:
    """Each failed rule is a field error at its node's path (the root as ``<nil>``), typed by
    its ``reason`` and placed by its ``fieldPath``, worded by ``messageExpression``, else
    ``message``, else ``failed rule: <rule>``; ``self`` is the node's value (list items, map
    values, a duration). Transition rules are not evaluated on create; an
    ``optionalOldSelf`` rule is.

    Source: [validation.go] (validateExpressions, fieldErrorForReason, ruleMessageOrDefault,
    evalMessageExpression), [values.go] (format duration), [docs] ("Validation rules",
    "Transition rules", optionalOldSelf), apimachinery errors.NewInvalid for the Status.
    """
    api = objects(k8s)
    status = refused(api.create_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                     widget("w-a", minReplicas=3, name="x"))
    assert status["message"] == ('Widget.example.com "w-a" is invalid: spec: Invalid value: '
                                 '"object": minReplicas must not exceed maxReplicas')
    assert causes(status) == [("spec", "FieldValueInvalid", 'Invalid value: "object": '
                               "minReplicas must not exceed maxReplicas")]
    status = refused(api.create_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                     widget("a", tier="gold", tags=["ok", "abcdefghij"], revision=2,
                            labels={"team": ""}, window="36h"))
    assert sorted(causes(status)) == sorted([
        ("<nil>", "FieldValueInvalid", 'Invalid value: "object": names start with w-'),
        ("spec.owner", "FieldValueRequired", "Required value: a gold tier needs an owner"),
        ("spec.revision", "FieldValueInvalid",
         'Invalid value: "integer": a new widget starts at revision 1'),
        ("spec.tags[1]", "FieldValueInvalid",
         'Invalid value: "string": tag abcdefghij is longer than 8 characters'),
        ("spec.labels[team]", "FieldValueInvalid",
         "Invalid value: \"string\": failed rule: self != ''"),
        ("spec.window", "FieldValueInvalid", 'Invalid value: "string": a window lasts a day '
         "at most")])
    made = api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget(
        "w-b", tier="gold", owner="ops", tags=["ok"], revision=1, window="2h",
        labels={"team": "a"}))
    assert made["spec"]["owner"] == "ops"


def test_transition_rules_refuse_updates_of_every_kind(k8s: Cluster) -> None:
    """``self == oldSelf`` makes a field immutable for a PUT, a merge patch, a dry run and a
    server-side apply (kubectl); a map list's items correlate by key (an existing port may
    not shrink, a new one is free); equality of a preserved object sees its unknown fields;
    a status write is validated too.

    Source: [docs] ("Transition rules"), [validation.go] (validateArray with makeMapList,
    validateMap), [values.go] (unstructuredMap.Equal), [strategy.go] (ValidateUpdate, and
    statusStrategy.ValidateUpdate running the rules).
    """
    api = objects(k8s)
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget(
        "w-t", name="first", ports=[{"name": "http", "port": 80}],
        frozen={"anything": {"deep": 1}}))
    status = refused(api.patch_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, "w-t",
                     {"spec": {"name": "second"}})
    assert causes(status) == [("spec.name", "FieldValueInvalid",
                               'Invalid value: "string": name is immutable')]
    code, body, _ = merge(k8s, "w-t", {"spec": {"name": "second"}}, dry_run=True)
    assert code == 422 and "spec.name: Invalid value" in body["message"]
    current = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w-t")
    current["spec"]["name"] = "third"
    refused(api.replace_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, "w-t", current)

    applied = k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                          check=False, stdin=json.dumps({**widget("w-t", name="fourth"),
                                                         "metadata": {"name": "w-t",
                                                                      "namespace": NS}}))
    assert applied.returncode != 0
    assert 'spec.name: Invalid value: "string": name is immutable' in applied.stderr

    status = refused(api.patch_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, "w-t",
                     {"spec": {"ports": [{"name": "http", "port": 79}]}})
    assert causes(status) == [("spec.ports[0].port", "FieldValueForbidden",
                               "Forbidden: a port may only grow")]
    grown = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w-t", {
        "spec": {"ports": [{"name": "admin", "port": 1}, {"name": "http", "port": 81}]}})
    assert [p["port"] for p in grown["spec"]["ports"]] == [1, 81]
    status = refused(api.patch_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, "w-t",
                     {"spec": {"frozen": {"anything": {"deep": 2}}}})
    assert causes(status)[0][0] == "spec.frozen"

    assert merge(k8s, "w-t", {"status": {"phase": "Done"}}, sub="status")[0] == 200
    code, body, _ = merge(k8s, "w-t", {"status": {"phase": "Running"}}, sub="status")
    assert code == 422 and body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "status",
        "message": 'Invalid value: "object": a Done widget stays Done'}]


def test_schema_errors_first_and_blocking_ones_skip_the_rules(k8s: Cluster) -> None:
    """A type, enum, required, too-long or too-many failure stops the rules with the note
    "some validation rules were not checked"; other schema failures (a maximum) are answered
    together with the rules' failures.

    Source: [strategy.go] (Validate: hasBlockingErr).
    """
    api = objects(k8s)
    status = refused(api.create_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                     widget("w-c", color="green", minReplicas=3))
    assert [(f, m) for f, _, m in causes(status)] == [
        ("spec.color", 'Unsupported value: "green": supported values: "red", "blue"'),
        ("<nil>", 'Invalid value: "null": some validation rules were not checked because the '
         "object was invalid; correct the existing errors to complete validation")]
    status = refused(api.create_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                     widget("w-c", minReplicas=300, maxReplicas=200))
    assert [f for f, _, _ in causes(status)] == ["spec.maxReplicas", "spec"]


def test_a_failure_on_an_unchanged_value_is_only_a_warning(k8s: Cluster) -> None:
    """Validation ratcheting: after a CRD gains a rule an existing object breaks, an update
    that leaves the offending value as it was succeeds with the failure as a ``Warning``
    header; changing that value to another failing one is refused.

    Source: [validation.go] (ratchetingOptions.shouldRatchetError: a rule without oldSelf on
    a correlated, unchanged value adds a warning), KEP-4008 "CRD Validation Ratcheting" (beta,
    on by default, since v1.30).
    """
    api = objects(k8s)
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("w-r", owner="ab"))
    ext = client.ApiextensionsV1Api(k8s.api_client())
    current = ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    stricter = json.loads(json.dumps(WIDGETS))
    stricter["metadata"]["resourceVersion"] = current.metadata.resource_version
    owner = stricter["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"]["properties"]["owner"]
    owner["x-kubernetes-validations"] = [{"rule": "self.size() >= 3",
                                          "message": "owners have 3 letters or more"}]
    ext.replace_custom_resource_definition(f"{PLURAL}.{GROUP}", stricter)
    try:
        code, _, warning = merge(k8s, "w-r", {"spec": {"tier": "silver"}})
        assert code == 200
        assert 'spec.owner: Invalid value: \\"string\\": owners have 3 letters or more' in warning
        code, body, _ = merge(k8s, "w-r", {"spec": {"owner": "cd"}})
        assert code == 422 and body["details"]["causes"][0]["field"] == "spec.owner"
    finally:
        current = ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        restored = {**WIDGETS, "metadata": {**WIDGETS["metadata"],
                                            "resourceVersion": current.metadata.resource_version}}
        ext.replace_custom_resource_definition(f"{PLURAL}.{GROUP}", restored)


def test_a_rule_the_sandbox_cannot_evaluate_refuses_the_write(k8s: Cluster) -> None:
    """A rule calling a Kubernetes CEL library or cel-go extension function the sandbox lacks
    (here ``lowerAscii``) is accepted with the CRD and fails closed: the write is refused with
    the evaluation error, never let through.

    Source: [validation.go] (an evaluation error is ``Invalid value: "<type>": <error>
    evaluating rule: <rule>``); sandbox/kubernetes/cel.py names what is not supported.
    """
    spec = {"type": "object", "properties": {"name": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self.name.lowerAscii() == self.name"}]}
    assert k8s.http("POST", CRD_PATH, crd("gizmos", "Gizmo", spec))[0] == 201
    code, body = k8s.http("POST", f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/gizmos", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Gizmo", "metadata": {"name": "g"},
        "spec": {"name": "abc"}})
    assert code == 422
    assert "undeclared reference to 'lowerAscii'" in body["message"]
    assert "evaluating rule: self.name.lowerAscii() == self.name" in body["message"]


FLUX_CRDS = Path(__file__).resolve().parents[2] / "platform" / "manifests" / "flux" / "crds.yaml"


def test_flux_crds_carry_their_upstream_rules(k8s: Cluster) -> None:
    """The product's Flux v2.6.4 CRDs (and the sandbox catalogue's, which a Flux install or
    ``--preinstall-crds`` brings) carry the real rules: a HelmRelease needs exactly one of
    ``chart`` and ``chartRef``; a Bucket's STS settings must suit its provider (``generic``
    by default); only Git providers take ``commitStatusExpr``. The product's HelmRelease
    shape (``spec.chart``) passes.

    Source: [flux] (helm-controller v1.3.0 helmreleases v2), fluxcd/source-controller v1.6.2
    config/crd/bases/source.toolkit.fluxcd.io_buckets.yaml (v1 spec rules, provider default
    generic), fluxcd/notification-controller v1.6.0 config/crd/bases/
    notification.toolkit.fluxcd.io_providers.yaml (v1beta3 spec rule); apiextensions-apiserver
    pkg/apiserver/schema/defaulting (a default fills an absent property).
    """
    docs = [d for d in yaml.safe_load_all(FLUX_CRDS.read_text()) if d]
    for (group, version, kind), rules in catalogue.UPSTREAM_RULES.items():
        crd = next(d for d in docs if d["spec"]["group"] == group
                   and d["spec"]["names"]["kind"] == kind)
        served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
        assert served["schema"]["openAPIV3Schema"] == rules, kind
    k8s.kubectl("apply", "--server-side", "-f", str(FLUX_CRDS))

    api = objects(k8s)
    hr = ("helm.toolkit.fluxcd.io", "v2", NS, "helmreleases")
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "web"}, "spec": {"interval": "10m"}}
    status = refused(api.create_namespaced_custom_object, *hr, release)
    assert status["message"] == ('HelmRelease.helm.toolkit.fluxcd.io "web" is invalid: spec: '
                                 'Invalid value: "object": either chart or chartRef must be set')
    release["spec"]["chart"] = {"spec": {"chart": "web", "version": "1.0.0", "sourceRef": {
        "kind": "HelmRepository", "name": "charts"}}}
    release["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "web"}
    refused(api.create_namespaced_custom_object, *hr, release)
    del release["spec"]["chartRef"]
    assert api.create_namespaced_custom_object(*hr, release)["spec"]["chart"]

    bucket = ("source.toolkit.fluxcd.io", "v1", NS, "buckets")
    body = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
            "metadata": {"name": "b"}, "spec": {
                "bucketName": "b", "endpoint": "s3.example.com", "interval": "5m",
                "sts": {"provider": "aws", "endpoint": "https://sts.example.com"}}}
    status = refused(api.create_namespaced_custom_object, *bucket, body)
    assert causes(status) == [("spec", "FieldValueInvalid", 'Invalid value: "object": '
                               "'ldap' is the only supported STS provider for the 'generic' "
                               "Bucket provider")]
    del body["spec"]["sts"]
    assert api.create_namespaced_custom_object(*bucket, body)["spec"]["provider"] == "generic"

    provider = ("notification.toolkit.fluxcd.io", "v1beta3", NS, "providers")
    status = refused(api.create_namespaced_custom_object, *provider, {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "chat"}, "spec": {"type": "slack", "commitStatusExpr": "'x'"}})
    assert "spec.commitStatusExpr is only supported for the 'github'" in status["message"]

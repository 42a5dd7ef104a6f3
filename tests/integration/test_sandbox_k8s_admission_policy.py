"""ValidatingAdmissionPolicy enforcement and ServiceAccount tokens in the sandbox Kubernetes API,
through the kubernetes Python client and raw HTTP.

Sources of each behaviour (named again at each test):
- [VAP] Kubernetes docs "Validating Admission Policy"
  (kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
- [dispatcher] k8s.io/apiserver pkg/admission/plugin/policy/validating/dispatcher.go: the
  denial ``ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <msg>`` wrapped by
  admission.NewForbidden (``<resource> "<name>" is forbidden: ...``), reason from the failed
  validation (default Invalid) and its code (reasonToCode: Invalid 422, Forbidden 403), the
  message also as a cause; Warn as ``Validation failed for ValidatingAdmissionPolicy '<p>' with
  binding '<b>': <msg>``; a misconfigured policy ``failed to configure policy: ...``.
- [validator] .../policy/validating/validator.go: message from messageExpression, else message,
  else ``failed expression: <expr>``; an evaluation error under failurePolicy Fail denies with
  the error, under Ignore admits.
- [matching] .../policy/matching/matching.go and .../webhook/predicates/{rules,namespace}:
  resource rules with ``res/sub`` and ``*``, operations, namespaceSelector (cluster-scoped objects
  always match), objectSelector, excludeResourceRules; policies never apply to policies
  (rules.IsExemptAdmissionConfigurationResource).
- [authn] Kubernetes docs "Authenticating" (service account tokens: ``system:serviceaccount:
  <ns>:<name>``, groups ``system:serviceaccounts``, ``system:serviceaccounts:<ns>``,
  ``system:authenticated``) and the TokenRequest API (authentication.k8s.io/v1; expirationSeconds
  at least 600, pkg/apis/authentication/validation; audiences default the API server's).
- [rbac] plugin/pkg/auth/authorizer/rbac: the ServiceAccount may write only what its RoleBinding
  grants (here ConfigMaps in its namespace), so admission sees only authorized requests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.kubernetes.vap import ValidatingAdmissionPolicies
from sandbox.world import World

pytestmark = pytest.mark.integration

NS = "guarded"
SA = "runner"
RUNNER = f"system:serviceaccount:{NS}:{SA}"


@dataclass
class Api:
    svc: KubernetesService
    server: RunningServer
    admin: client.ApiClient

    def as_token(self, token: str) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = self.server.url
        cfg.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(cfg)

    def token(self, name: str = SA, namespace: str = NS, **spec: Any) -> str:
        answer = client.CoreV1Api(self.admin).create_namespaced_service_account_token(
            name, namespace, {"spec": spec})
        return str(answer.status.token)

    def http(self, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any, str]:
        """(status, body, Warning header) of a raw request."""
        req = urllib.request.Request(
            self.server.url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {token or self.svc.world.kubernetes_token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read()), resp.headers.get("Warning") or ""
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null"), exc.headers.get("Warning") or ""

    def policy(self, name: str, spec: dict[str, Any], actions: tuple[str, ...] = ("Deny",),
               binding: dict[str, Any] | None = None) -> None:
        adm = client.AdmissionregistrationV1Api(self.admin)
        adm.create_validating_admission_policy({"metadata": {"name": name}, "spec": spec})
        adm.create_validating_admission_policy_binding(
            {"metadata": {"name": f"{name}-binding"},
             "spec": {"policyName": name, "validationActions": list(actions),
                      **(binding or {})}})

    def drop(self, name: str) -> None:
        adm = client.AdmissionregistrationV1Api(self.admin)
        adm.delete_validating_admission_policy_binding(f"{name}-binding")
        adm.delete_validating_admission_policy(name)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    svc = KubernetesService(World())
    server = serve(svc)
    kubeconfig = Path(tmp_path_factory.mktemp("vap")) / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    admin = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": NS, "labels": {"tier": "guarded"}}})
    core.create_namespace({"metadata": {"name": "open"}})
    core.create_namespaced_service_account(NS, {"metadata": {"name": SA}})
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "configmaps"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"],
         "verbs": ["get", "list", "create", "update", "patch", "delete"]}]})
    rbac.create_namespaced_role_binding(NS, {
        "metadata": {"name": "configmaps"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]})
    try:
        yield Api(svc, server, admin)
    finally:
        server.stop()


def configmap(name: str, labels: dict[str, str] | None = None,
              **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}


def refused(call: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as info:
        call()
    return info.value


def status(exc: client.ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def only_configmaps(**extra: Any) -> dict[str, Any]:
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
            "resources": ["configmaps"]}
    return {"resourceRules": [rule], **extra}


def test_a_service_account_token_authenticates_as_the_service_account(api: Api) -> None:
    """[authn] The TokenRequest's token is the ServiceAccount's user, with its groups, as
    ``request.userInfo`` shows; a denial's messageExpression reports it [VAP]."""
    api.policy("who", {"matchConstraints": only_configmaps(), "validations": [
        {"expression": "false", "messageExpression":
         "request.userInfo.username + ' ' + string(size(request.userInfo.groups)) + ' groups'"
         " + ('system:serviceaccounts:' + request.namespace in request.userInfo.groups"
         " && 'system:serviceaccounts' in request.userInfo.groups ? ' of service accounts' : '')"
         " + ('system:authenticated' in request.userInfo.groups ? ', authenticated' : '')"}]})
    try:
        token = api.token()
        exc = refused(lambda: client.CoreV1Api(api.as_token(token))
                      .create_namespaced_config_map(NS, configmap("a")))
        assert exc.status == 422
        assert status(exc)["message"] == (
            'configmaps "a" is forbidden: ValidatingAdmissionPolicy \'who\' with binding '
            f"'who-binding' denied request: {RUNNER} 3 groups of service accounts, "
            "authenticated")
        exc = refused(lambda: client.CoreV1Api(api.admin).create_namespaced_config_map(
            NS, configmap("a")))
        assert status(exc)["message"].endswith(
            "denied request: cluster-admin 2 groups, authenticated")
    finally:
        api.drop("who")


def test_tokens_the_api_does_not_accept(api: Api) -> None:
    """[authn] A token for another audience, a forged one, or one whose ServiceAccount was
    deleted answers 401; a TokenRequest under 10 minutes is 422, for a missing account 404."""
    core = client.CoreV1Api(api.admin)
    own = f"/api/v1/namespaces/{NS}/configmaps"  # what the account's Role lets it list
    assert api.http("GET", own, token=api.token(audiences=["vault"]))[0] == 401
    good = api.token(expirationSeconds=600)
    assert api.http("GET", own, token=good)[0] == 200
    assert api.http("GET", own, token=good[:-4] + "AAAA")[0] == 401
    core.create_namespaced_service_account(NS, {"metadata": {"name": "short-lived"}})
    gone = api.token("short-lived")
    core.delete_namespaced_service_account("short-lived", NS)
    assert api.http("GET", own, token=gone)[0] == 401
    core.create_namespaced_service_account(NS, {"metadata": {"name": "short-lived"}})
    assert api.http("GET", own, token=gone)[0] == 401  # another uid
    exc = refused(lambda: api.token(expirationSeconds=599))
    assert exc.status == 422 and "may not specify a duration less than 10 minutes" in exc.body
    assert refused(lambda: api.token("nobody")).status == 404


def test_match_constraints_select_what_a_policy_sees(api: Api) -> None:
    """[matching] namespaceSelector, objectSelector, operations and excludeResourceRules;
    Secrets are outside the rules; another namespace's labels do not match."""
    api.policy("no-x", {"matchConstraints": only_configmaps(
        namespaceSelector={"matchLabels": {"tier": "guarded"}},
        objectSelector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
        excludeResourceRules=[{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"],
                               "resources": ["configmaps"], "resourceNames": ["exempt"]}]),
        "validations": [{"expression": "!('x' in object.data)", "message": "no x"}]})
    core = client.CoreV1Api(api.admin)
    try:
        assert "no x" in refused(lambda: core.create_namespaced_config_map(
            NS, configmap("c1", x="1"))).body
        core.create_namespaced_config_map("open", configmap("c1", x="1"))
        core.create_namespaced_config_map(NS, configmap("c2", {"skip": "yes"}, x="1"))
        core.create_namespaced_config_map(NS, configmap("exempt", x="1"))
        core.create_namespaced_secret(NS, {"metadata": {"name": "s"}, "stringData": {"x": "1"}})
        core.create_namespaced_config_map(NS, configmap("c3"))
        # UPDATE is in the rule; DELETE is not.
        assert refused(lambda: core.patch_namespaced_config_map(
            "c3", NS, {"data": {"x": "1"}})).status == 422
        core.delete_namespaced_config_map("c3", NS)
    finally:
        api.drop("no-x")


def test_match_conditions_and_failure_policy(api: Api) -> None:
    """[VAP] "Matching requests: matchConditions": any false skips the policy; an error with
    none false rejects under failurePolicy Fail and skips under Ignore. [validator] A
    validation that fails to evaluate denies under Fail with the error, admits under Ignore."""
    conditions = [{"name": "runner", "expression": f"request.userInfo.username == '{RUNNER}'"},
                  {"name": "broken", "expression": "object.data.missing == 'y'"}]
    api.policy("cond", {"matchConstraints": only_configmaps(), "matchConditions": conditions,
                        "validations": [{"expression": "false", "message": "never"}]})
    runner = client.CoreV1Api(api.as_token(api.token()))
    admin = client.CoreV1Api(api.admin)
    try:
        admin.create_namespaced_config_map(NS, configmap("m1"))  # "runner" is false
        exc = refused(lambda: runner.create_namespaced_config_map(NS, configmap("m2")))
        assert "denied request: expression 'object.data.missing == 'y'' resulted in error" \
            in status(exc)["message"]
        api.drop("cond")
        api.policy("cond", {"failurePolicy": "Ignore", "matchConstraints": only_configmaps(),
                            "matchConditions": conditions,
                            "validations": [{"expression": "false", "message": "never"}]})
        runner.create_namespaced_config_map(NS, configmap("m2"))
        api.drop("cond")
        for policy, admitted in (("Fail", False), ("Ignore", True)):
            api.policy("eval", {"failurePolicy": policy, "matchConstraints": only_configmaps(),
                                "validations": [{"expression": "object.data.nope == 'x'"}]})
            body = configmap(f"e-{policy.lower()}")
            if admitted:
                runner.create_namespaced_config_map(NS, body)
            else:
                assert "resulted in error" in refused(
                    lambda b=body: runner.create_namespaced_config_map(NS, b)).body
            api.drop("eval")
    finally:
        for name in ("cond", "eval"):
            try:
                api.drop(name)
            except client.ApiException:
                pass


def test_messages_reasons_and_variables(api: Api) -> None:
    """[validator] messageExpression first, then message, then ``failed expression: ...``;
    [dispatcher] a reason of Forbidden answers 403 with that reason, the message as a cause;
    [VAP] "Variable composition": variables see the earlier ones; namespaceObject is the
    request's namespace."""
    api.policy("msgs", {
        "matchConstraints": only_configmaps(),
        "variables": [{"name": "size", "expression": "size(object.data)"},
                      {"name": "big", "expression": "variables.size > 1"}],
        "validations": [
            {"expression": "!variables.big", "reason": "Forbidden",
             "messageExpression": "'has ' + string(variables.size) + ' keys in ' + "
                                  "namespaceObject.metadata.labels['tier']",
             "message": "too big"},
            {"expression": "!('y' in object.data)", "message": "  no y  "},
            {"expression": "!('z' in object.data)"}]})
    core = client.CoreV1Api(api.admin)
    try:
        exc = refused(lambda: core.create_namespaced_config_map(NS, configmap("v1", a="", b="")))
        body = status(exc)
        assert (exc.status, body["reason"]) == (403, "Forbidden")
        expected = ("ValidatingAdmissionPolicy 'msgs' with binding 'msgs-binding' denied "
                    "request: has 2 keys in guarded")
        assert body["message"] == f'configmaps "v1" is forbidden: {expected}'
        assert body["details"]["causes"] == [{"message": expected}]
        exc = refused(lambda: core.create_namespaced_config_map(NS, configmap("v1", y="")))
        assert (exc.status, status(exc)["reason"]) == (422, "Invalid")
        assert status(exc)["message"].endswith("denied request: no y")
        exc = refused(lambda: core.create_namespaced_config_map(NS, configmap("v1", z="")))
        assert status(exc)["message"].endswith(
            "denied request: failed expression: !('z' in object.data)")
    finally:
        api.drop("msgs")


def test_validation_actions_and_dry_run(api: Api) -> None:
    """[VAP] "Validation actions": Warn answers a Warning header and admits, Audit admits
    (the sandbox keeps no audit log); a dry run is evaluated too; DELETE sees ``oldObject``
    and a null ``object``."""
    spec = {"matchConstraints": {"resourceRules": [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"],
         "resources": ["configmaps"]}]},
        "validations": [{"expression": "object != null ? !('w' in object.data) : "
                                       "!('keep' in oldObject.data)", "message": "w or keep"}]}
    api.policy("warn", spec, ("Warn",))
    path = f"/api/v1/namespaces/{NS}/configmaps"
    try:
        code, _, warning = api.http("POST", path, configmap("w1", w=""))
        assert code == 201
        assert warning == ('299 - "Validation failed for ValidatingAdmissionPolicy \'warn\' '
                           'with binding \'warn-binding\': w or keep"')
    finally:
        api.drop("warn")
    api.policy("audit", spec, ("Audit",))
    try:
        assert api.http("POST", path, configmap("w2", w=""))[:3:2] == (201, "")
    finally:
        api.drop("audit")
    api.policy("deny", spec)
    try:
        code, body, _ = api.http("POST", path + "?dryRun=All", configmap("w3", w=""))
        assert code == 422 and body["message"].endswith("denied request: w or keep")
        api.http("POST", path, configmap("k1", keep=""))
        code, body, _ = api.http("DELETE", f"{path}/k1")
        assert code == 422 and body["message"] == (
            'configmaps "k1" is forbidden: ValidatingAdmissionPolicy \'deny\' with binding '
            "'deny-binding' denied request: w or keep")
    finally:
        api.drop("deny")


def test_subresources_cluster_scope_and_exemptions(api: Api) -> None:
    """[matching] ``deployments`` does not match ``deployments/scale`` (``deployments/*``
    does); a namespaceSelector never excludes a cluster-scoped object; a policy never applies
    to policies and bindings themselves (IsExemptAdmissionConfigurationResource)."""
    everything = {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                     "operations": ["CREATE"], "resources": ["*"]}],
                  "namespaceSelector": {"matchLabels": {"tier": "nowhere"}}}
    api.policy("nothing", {"matchConstraints": everything,
                           "validations": [{"expression": "false", "message": "no"}]})
    try:
        client.AdmissionregistrationV1Api(api.admin).create_validating_admission_policy_binding(
            {"metadata": {"name": "extra"},
             "spec": {"policyName": "nothing", "validationActions": ["Deny"]}})
        client.AdmissionregistrationV1Api(api.admin).delete_validating_admission_policy_binding(
            "extra")
        exc = refused(lambda: client.CoreV1Api(api.admin).create_persistent_volume(
            {"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"},
                                                    "accessModes": ["ReadWriteOnce"],
                                                    "hostPath": {"path": "/tmp/x"}}}))
        assert 'persistentvolumes "pv1" is forbidden' in status(exc)["message"]
        client.CoreV1Api(api.admin).create_namespaced_config_map(NS, configmap("in-ns"))
    finally:
        api.drop("nothing")
    # A Namespace is matched on its own labels, its request's namespace is its name, and it has
    # no namespaceObject (dispatcher.go's special case).
    api.policy("ns", {"matchConstraints": {
        "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["namespaces"]}],
        "namespaceSelector": {"matchLabels": {"tier": "new"}}},
        "validations": [{"expression": "false", "messageExpression":
                         "request.namespace + (namespaceObject == null ? ' alone' : '')"}]})
    try:
        client.CoreV1Api(api.admin).create_namespace({"metadata": {"name": "plain"}})
        exc = refused(lambda: client.CoreV1Api(api.admin).create_namespace(
            {"metadata": {"name": "fresh", "labels": {"tier": "new"}}}))
        assert status(exc)["message"].endswith("denied request: fresh alone")
    finally:
        api.drop("ns")
    apps = client.AppsV1Api(api.admin)
    apps.create_namespaced_deployment(NS, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    rule = {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"]}
    for resources, denied in ((["deployments"], False), (["deployments/*"], True)):
        api.policy("scale", {"matchConstraints": {"resourceRules": [
            {**rule, "resources": resources}]},
            "validations": [{"expression": "request.subResource != 'scale'",
                             "message": "no scaling"}]})
        try:
            call = lambda: apps.patch_namespaced_deployment_scale(  # noqa: E731
                "web", NS, {"spec": {"replicas": 1}})
            if denied:
                assert "no scaling" in refused(call).body
            else:
                call()
        finally:
            api.drop("scale")


def test_a_policy_is_compiled_once_per_resource_version(api: Api) -> None:
    """Speed, not semantics: the plugin keeps a policy's compiled expressions until the policy
    changes, so a write costs evaluations only."""
    plugin = next(p for p in api.svc.api.validating_admission
                  if isinstance(p, ValidatingAdmissionPolicies))
    api.policy("cached", {"matchConstraints": only_configmaps(),
                          "validations": [{"expression": "!('c' in object.data)"}]})
    core = client.CoreV1Api(api.admin)
    try:
        core.create_namespaced_config_map(NS, configmap("p1"))
        first = plugin._compiled["cached"]
        core.create_namespaced_config_map(NS, configmap("p2"))
        assert plugin._compiled["cached"] is first
        client.AdmissionregistrationV1Api(api.admin).patch_validating_admission_policy(
            "cached", {"spec": {"validations": [{"expression": "!('d' in object.data)"}]}})
        core.create_namespaced_config_map(NS, configmap("p3", c=""))
        assert plugin._compiled["cached"] is not first
    finally:
        api.drop("cached")


def test_a_policy_with_a_param_kind_is_a_misconfigured_policy(api: Api) -> None:
    """Not emulated: parameter resources. Such a policy fails as a misconfigured one does
    [dispatcher] ("failed to configure policy", no binding in the message), so its
    failurePolicy decides rather than a silent pass."""
    api.policy("params", {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                          "matchConstraints": only_configmaps(),
                          "validations": [{"expression": "params != null"}]},
               binding={"paramRef": {"name": "limits", "namespace": NS,
                                     "parameterNotFoundAction": "Deny"}})
    try:
        exc = refused(lambda: client.CoreV1Api(api.admin).create_namespaced_config_map(
            NS, configmap("q1")))
        assert status(exc)["message"].startswith(
            'configmaps "q1" is forbidden: ValidatingAdmissionPolicy \'params\' denied '
            "request: failed to configure policy: paramKind is not supported")
    finally:
        api.drop("params")


def test_policies_and_bindings_are_validated_when_written(api: Api) -> None:
    """pkg/apis/admissionregistration/validation/validation.go: a binding needs a policyName
    and at least one supported action, and may not ask for Deny with Warn; a policy needs
    matchConstraints with resourceRules and validations (or auditAnnotations), and its
    expressions must parse; each is 422 Invalid naming the field."""
    adm = client.AdmissionregistrationV1Api(api.admin)
    cases = [({"validationActions": ["Deny"]}, "spec.policyName: Required value"),
             ({"policyName": "p"}, "spec.validationActions: Required value: at least one "
                                   "validation action is required"),
             ({"policyName": "p", "validationActions": ["Deny", "Warn"]},
              "must not contain both Deny and Warn"),
             ({"policyName": "p", "validationActions": ["Block"]},
              'spec.validationActions[0]: Unsupported value: "Block"')]
    for spec, message in cases:
        exc = refused(lambda s=spec: adm.create_validating_admission_policy_binding(
            {"metadata": {"name": "bad"}, "spec": s}))
        assert exc.status == 422 and message in status(exc)["message"], exc.body
    rules = only_configmaps()
    cases = [({"validations": [{"expression": "true"}]}, "spec.matchConstraints: Required"),
             ({"matchConstraints": rules}, "spec.validations: Required value: validations or "
                                           "auditAnnotations must contain at least one item"),
             ({"matchConstraints": rules, "validations": [{"expression": "object.("}]},
              "spec.validations[0].expression: Invalid value: \"object.(\": compilation "
              "failed"),
             ({"matchConstraints": rules, "validations": [{"expression": "true"}],
               "matchConditions": [{"name": "a", "expression": "true"},
                                   {"name": "a", "expression": "true"}]},
              'spec.matchConditions[1].name: Duplicate value: "a"')]
    for spec, message in cases:
        exc = refused(lambda s=spec: adm.create_validating_admission_policy(
            {"metadata": {"name": "bad"}, "spec": s}))
        assert exc.status == 422 and message in status(exc)["message"], exc.body

"""The sandbox Kubernetes API's RBAC authorizer: request attributes, rule matching, bindings,
denial messages and escalation prevention, each against its kube-apiserver source.

Sources:
- [requestinfo] k8s.io/apiserver pkg/endpoints/request/requestinfo.go (NewRequestInfo).
- [helpers] pkg/apis/rbac/v1/evaluation_helpers.go (VerbMatches, APIGroupMatches,
  ResourceMatches, ResourceNameMatches, NonResourceURLMatches) and
  plugin/pkg/auth/authorizer/rbac/rbac.go (RuleAllows, Authorize's reason).
- [resolver] pkg/registry/rbac/validation/rule.go (VisitRulesFor, appliesToUser,
  ConfirmNoEscalation) and k8s.io/component-helpers auth/rbac/validation/policy_comparator.go
  (Covers, BreakdownRule).
- [bootstrap] plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go.
- [forbidden] k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go
  (forbiddenMessage) and apimachinery pkg/api/errors (NewForbidden).
- [impersonation] k8s.io/apiserver pkg/endpoints/filters/impersonation.go.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.kubernetes import rbac
from sandbox.kubernetes.api import ADMIN, UserInfo
from sandbox.kubernetes.rbac import Attributes, Authorizer, request_attributes
from sandbox.kubernetes.store import Store

SA = UserInfo("system:serviceaccount:runs:runner",
              ("system:serviceaccounts", "system:serviceaccounts:runs", "system:authenticated"))
ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def attrs(method: str, path: str, **query: str) -> Attributes:
    return request_attributes(SA, method, path, query)


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/a/pods/p", {}, ("get", "", "pods", "", "a", "p")),
    ("GET", "/api/v1/namespaces/a/pods", {}, ("list", "", "pods", "", "a", "")),
    ("GET", "/api/v1/namespaces/a/pods", {"watch": "true"}, ("watch", "", "pods", "", "a", "")),
    ("GET", "/api/v1/namespaces/a/pods", {"watch": "0"}, ("list", "", "pods", "", "a", "")),
    # a metadata.name field selector names the object of a list or watch
    ("GET", "/api/v1/namespaces/a/pods", {"fieldSelector": "metadata.name=p"},
     ("list", "", "pods", "", "a", "p")),
    ("GET", "/api/v1/namespaces/a/pods", {"fieldSelector": "metadata.name!=p"},
     ("list", "", "pods", "", "a", "")),
    ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
    ("POST", "/apis/apps/v1/namespaces/a/deployments", {},
     ("create", "apps", "deployments", "", "a", "")),
    ("PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale", {},
     ("update", "apps", "deployments", "scale", "a", "d")),
    ("PATCH", "/apis/batch/v1/namespaces/a/jobs/j/status", {},
     ("patch", "batch", "jobs", "status", "a", "j")),
    ("DELETE", "/api/v1/namespaces/a/configmaps", {},
     ("deletecollection", "", "configmaps", "", "a", "")),
    ("POST", "/api/v1/namespaces/a/serviceaccounts/s/token", {},
     ("create", "", "serviceaccounts", "token", "a", "s")),
    # a namespace is its own namespace; status and finalize are its subresources
    ("GET", "/api/v1/namespaces/a", {}, ("get", "", "namespaces", "", "a", "a")),
    ("PUT", "/api/v1/namespaces/a/finalize", {}, ("update", "", "namespaces", "finalize", "a",
                                                 "a")),
    ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
    ("GET", "/api/v1/watch/namespaces/a/pods", {}, ("watch", "", "pods", "", "a", "")),
])
def test_resource_request_attributes(method: str, path: str, query: dict[str, str],
                                     expected: tuple[str, ...]) -> None:
    """[requestinfo] verb, group, resource, subresource, namespace and name of a request."""
    a = request_attributes(SA, method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == expected


@pytest.mark.parametrize("path", ["/version", "/api", "/api/v1", "/apis", "/apis/apps",
                                  "/apis/apps/v1", "/openapi/v3", "/healthz"])
def test_discovery_paths_are_non_resource_requests(path: str) -> None:
    """[requestinfo] fewer than a resource after the group version: a non-resource request,
    whose verb is the lowercased HTTP method."""
    a = attrs("GET", path)
    assert not a.resource_request and a.verb == "get" and a.path == path


@pytest.mark.parametrize(("rule", "allowed"), [
    ({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}, False),
    ({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}, True),
    ({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}, True),
    ({"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["update"]}, False),
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, True),
    ({"apiGroups": [""], "resources": ["deployments/scale"], "verbs": ["update"]}, False),
    ({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"],
      "resourceNames": ["web"]}, True),
    ({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"],
      "resourceNames": ["db"]}, False),
])
def test_rule_matching(rule: dict[str, Any], allowed: bool) -> None:
    """[helpers] ``res/sub``, ``*/sub`` and ``*``; resourceNames must hold the name."""
    a = attrs("PUT", "/apis/apps/v1/namespaces/a/deployments/web/scale")
    assert rbac.rule_allows(a, rule) is allowed


def test_resource_names_never_match_a_request_without_a_name() -> None:
    """[helpers] create, list, watch and deletecollection carry no name, so a rule limited to
    names never allows them; a list by ``metadata.name`` does carry one [requestinfo]."""
    named = {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["c"],
             "verbs": ["create", "list", "watch", "deletecollection"]}
    for a in (attrs("POST", "/api/v1/namespaces/a/configmaps"),
              attrs("GET", "/api/v1/namespaces/a/configmaps"),
              attrs("GET", "/api/v1/namespaces/a/configmaps", watch="1"),
              attrs("DELETE", "/api/v1/namespaces/a/configmaps")):
        assert not rbac.rule_allows(a, named)
    assert rbac.rule_allows(attrs("GET", "/api/v1/namespaces/a/configmaps",
                                  fieldSelector="metadata.name=c"), named)


@pytest.mark.parametrize(("urls", "path", "allowed"), [
    (["/apis/*"], "/apis/apps/v1", True), (["/apis/*"], "/apis", False),
    (["/apis"], "/apis", True), (["*"], "/anything", True), (["/version"], "/version/", False),
])
def test_non_resource_urls(urls: list[str], path: str, allowed: bool) -> None:
    """[helpers] NonResourceURLMatches: exact, ``*``, or a prefix before a trailing ``*``."""
    assert rbac.rule_allows(attrs("GET", path), {"nonResourceURLs": urls,
                                                 "verbs": ["get"]}) is allowed


def role(kind: str, name: str, rules: list[dict[str, Any]], ns: str = "") -> dict[str, Any]:
    meta = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(name: str, role_kind: str, role_name: str, subjects: list[dict[str, Any]],
            ns: str = "") -> dict[str, Any]:
    meta = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"metadata": meta, "subjects": subjects,
            "roleRef": {"apiGroup": rbac.GROUP, "kind": role_kind, "name": role_name}}


def put(store: Store, plural: str, obj: dict[str, Any]) -> None:
    obj["metadata"]["resourceVersion"] = str(store.next_rv())
    store.put((rbac.GROUP, plural), obj, "ADDED")


READ_CM = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]


@pytest.fixture
def store() -> Store:
    return Store()


def test_bindings_apply_in_their_scope(store: Store) -> None:
    """[resolver] a RoleBinding grants in its namespace only (to a Role there or a
    ClusterRole); a ClusterRoleBinding everywhere; a ServiceAccount subject without a namespace
    is the RoleBinding's."""
    authz = Authorizer(store)
    get_a = attrs("GET", "/api/v1/namespaces/runs/configmaps/c")
    get_b = attrs("GET", "/api/v1/namespaces/other/configmaps/c")
    assert not authz.authorize(get_a)[0]
    put(store, "roles", role("Role", "read", READ_CM, "runs"))
    put(store, "rolebindings", binding("read", "Role", "read",
                                       [{"kind": "ServiceAccount", "name": "runner"}], "runs"))
    assert authz.authorize(get_a)[0] and not authz.authorize(get_b)[0]
    put(store, "clusterroles", role("ClusterRole", "read", READ_CM))
    put(store, "rolebindings", binding("read", "ClusterRole", "read", [
        {"kind": "ServiceAccount", "name": "runner", "namespace": "runs"}], "other"))
    assert authz.authorize(get_b)[0]
    assert not authz.authorize(attrs("GET", "/api/v1/namespaces/third/configmaps/c"))[0]
    put(store, "clusterrolebindings", binding("read", "ClusterRole", "read", [
        {"kind": "Group", "name": "system:serviceaccounts:runs"}]))
    assert authz.authorize(attrs("GET", "/api/v1/namespaces/third/configmaps/c"))[0]
    assert not authz.authorize(request_attributes(
        ALICE, "GET", "/api/v1/namespaces/third/configmaps/c", {}))[0]


def test_bootstrap_policy_lets_every_user_discover(store: Store) -> None:
    """[bootstrap] system:discovery, system:basic-user and system:public-info-viewer are bound
    to system:authenticated: discovery and self reviews, nothing else."""
    authz = Authorizer(store)
    for path in ("/version", "/api", "/apis/apps/v1", "/openapi/v3/apis/apps/v1", "/healthz"):
        assert authz.authorize(attrs("GET", path))[0], path
    assert authz.authorize(attrs(
        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"))[0]
    assert authz.authorize(attrs(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"))[0]
    assert not authz.authorize(attrs("POST", "/api"))[0]
    assert not authz.authorize(attrs("GET", "/metrics"))[0]


def test_an_allowed_request_names_the_binding_that_allowed_it(store: Store) -> None:
    """[helpers] rbac.go authorizingVisitor: ``RBAC: allowed by`` the binding, described as
    [resolver] rule.go's clusterRoleBindingDescriber / roleBindingDescriber do (a
    ServiceAccount as ``name/namespace``, its namespace defaulting to the RoleBinding's)."""
    authz = Authorizer(store)
    put(store, "roles", role("Role", "read", READ_CM, "runs"))
    put(store, "rolebindings", binding("read", "Role", "read", [
        {"kind": "User", "name": "someone-else"},
        {"kind": "ServiceAccount", "name": "runner"}], "runs"))
    assert authz.authorize(attrs("GET", "/api/v1/namespaces/runs/configmaps/c")) == (
        True, 'RBAC: allowed by RoleBinding "read/runs" of Role "read" to ServiceAccount '
              '"runner/runs"')
    assert authz.authorize(attrs("GET", "/version")) == (
        True, 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
              '"system:discovery" to Group "system:authenticated"')
    put(store, "clusterroles", role("ClusterRole", "read", READ_CM))
    put(store, "clusterrolebindings", binding("read-all", "ClusterRole", "read", [
        {"kind": "ServiceAccount", "name": "runner", "namespace": "runs"}]))
    assert authz.authorize(attrs("GET", "/api/v1/namespaces/x/configmaps/c")) == (
        True, 'RBAC: allowed by ClusterRoleBinding "read-all" of ClusterRole "read" to '
              'ServiceAccount "runner/runs"')


def test_a_missing_role_is_the_denials_reason(store: Store) -> None:
    """[helpers] Authorize's reason lists what could not be resolved, and the 403 carries it
    [forbidden]."""
    authz = Authorizer(store)
    put(store, "rolebindings", binding("gone", "Role", "gone",
                                       [{"kind": "User", "name": "alice"}], "a"))
    a = request_attributes(ALICE, "GET", "/api/v1/namespaces/a/secrets/s", {})
    assert authz.authorize(a) == (False, 'RBAC: role.rbac.authorization.k8s.io "gone" not found')
    with pytest.raises(rbac.ApiError) as info:
        authz.check(a)
    assert info.value.code == 403 and info.value.reason == "Forbidden"
    assert info.value.message == (
        'secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" '
        'in the namespace "a": RBAC: role.rbac.authorization.k8s.io "gone" not found')
    assert info.value.details == {"kind": "secrets", "name": "s"}


@pytest.mark.parametrize(("method", "path", "message", "details"), [
    ("GET", "/apis/apps/v1/deployments", 'deployments.apps is forbidden: User "{u}" cannot list '
     'resource "deployments" in API group "apps" at the cluster scope',
     {"group": "apps", "kind": "deployments"}),
    ("PUT", "/apis/apps/v1/namespaces/a/deployments/web/scale", 'deployments.apps "web" is '
     'forbidden: User "{u}" cannot update resource "deployments/scale" in API group "apps" in '
     'the namespace "a"', {"group": "apps", "kind": "deployments", "name": "web"}),
    ("GET", "/metrics", 'forbidden: User "{u}" cannot get path "/metrics"', {}),
])
def test_denial_messages(store: Store, method: str, path: str, message: str,
                         details: dict[str, str]) -> None:
    """[forbidden] the message and details kube-apiserver sends for a denied request."""
    with pytest.raises(rbac.ApiError) as info:
        Authorizer(store).check(attrs(method, path))
    assert info.value.message == message.format(u=SA.username)
    assert info.value.details == details


def test_system_masters_is_never_asked(store: Store) -> None:
    """system:masters is allowed before any authorizer runs (authorizerfactory)."""
    Authorizer(store).check(request_attributes(ADMIN, "DELETE", "/api/v1/namespaces/a", {}))


def test_resolved_rules_follow_rbac_writes_and_reloads(store: Store) -> None:
    """The per-user cache is dropped when an RBAC object changes or the store is reloaded."""
    authz = Authorizer(store)
    a = attrs("GET", "/api/v1/namespaces/runs/configmaps/c")
    put(store, "roles", role("Role", "read", READ_CM, "runs"))
    put(store, "rolebindings", binding("read", "Role", "read",
                                       [{"kind": "ServiceAccount", "name": "runner"}], "runs"))
    assert authz.authorize(a)[0]
    put(store, "roles", role("Role", "read", [], "runs"))
    assert not authz.authorize(a)[0]
    store.load({"resourceVersion": store.rv, "objects": []})
    resolved = authz.rules_for(SA, "runs")
    assert (resolved.rules, resolved.errors) == (
        rbac.BOOTSTRAP_CLUSTER_ROLES["system:discovery"]
        + rbac.BOOTSTRAP_CLUSTER_ROLES["system:basic-user"]
        + rbac.BOOTSTRAP_CLUSTER_ROLES["system:public-info-viewer"], [])


def test_covers_breaks_rules_down(store: Store) -> None:
    """[resolver] Covers: every (group, resource, verb, name) of the wanted rules must be held;
    ``*/sub`` covers a subresource, unnamed covers named, named never covers unnamed."""
    owner = [{"apiGroups": ["apps"], "resources": ["deployments", "*/scale"],
              "verbs": ["get", "update"]},
             {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
              "resourceNames": ["a", "b"]}]

    def covered(rule: dict[str, Any]) -> bool:
        return all(any(rbac.rule_covers(o, sub) for o in owner) for sub in rbac.breakdown(rule))

    assert covered({"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"],
                    "verbs": ["get"]})
    assert not covered({"apiGroups": ["apps"], "resources": ["deployments"],
                        "verbs": ["get", "delete"]})
    assert covered({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                    "resourceNames": ["a"]})
    assert not covered({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})


def test_escalation_message(store: Store) -> None:
    """[resolver] ConfirmNoEscalation's error: the missing rules, compacted per resource and
    sorted, with the user's groups quoted as Go prints them."""
    put(store, "roles", role("Role", "read", READ_CM, "runs"))
    put(store, "rolebindings", binding("read", "Role", "read",
                                       [{"kind": "ServiceAccount", "name": "runner"}], "runs"))
    error = Authorizer(store).confirm_no_escalation(SA, "runs", [
        {"apiGroups": [""], "resources": ["configmaps", "secrets"],
         "verbs": ["get", "create"]}])
    assert error == (
        'user "system:serviceaccount:runs:runner" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:runs" "system:authenticated"]) is attempting to grant RBAC '
        'permissions not currently held:\n'
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["create"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "create"]}')


def test_impersonation_headers() -> None:
    """[impersonation] k8s.io/apiserver filters/impersonation.go buildImpersonationRequests: a
    ``system:serviceaccount:`` user is the ServiceAccount; groups, uid and extras each need
    their own impersonate check; none of them without a user."""
    assert rbac.impersonation_requests([("Impersonate-User", "system:serviceaccount:a:b"),
                                        ("Impersonate-Group", "g"),
                                        ("Impersonate-Extra-Scopes", "s")]) == [
        ("serviceaccounts", "a", "b", ""), ("groups", "", "g", ""),
        ("userextras", "", "s", "scopes")]
    assert rbac.impersonation_requests([("Impersonate-User", "system:serviceaccount:x")]) == [
        ("users", "", "system:serviceaccount:x", "")]
    with pytest.raises(rbac.ApiError):
        rbac.impersonation_requests([("Impersonate-Uid", "1")])


def test_an_impersonated_user_is_authenticated_unless_anonymous(store: Store) -> None:
    """[impersonation] no Impersonate-Group: a ServiceAccount's groups; given groups replace
    them; either way system:authenticated is added for anyone but system:anonymous (which gets
    system:unauthenticated) unless the groups already name one of the two (impersonation.go:
    addAuthenticated / addUnauthenticated)."""
    authz = Authorizer(store)
    assert authz.impersonate(ADMIN, [("Impersonate-User", "system:serviceaccount:a:b")]) == \
        UserInfo("system:serviceaccount:a:b", ("system:serviceaccounts",
                                               "system:serviceaccounts:a", "system:authenticated"))
    assert authz.impersonate(ADMIN, [("Impersonate-User", "bob"),
                                     ("Impersonate-Group", "devs")]) == \
        UserInfo("bob", ("devs", "system:authenticated"))
    assert authz.impersonate(ADMIN, [("Impersonate-User", "bob"),
                                     ("Impersonate-Group", "system:unauthenticated")]) == \
        UserInfo("bob", ("system:unauthenticated",))
    assert authz.impersonate(ADMIN, [("Impersonate-User", "system:anonymous")]) == \
        UserInfo("system:anonymous", ("system:unauthenticated",))

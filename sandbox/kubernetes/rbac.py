"""RBAC authorization, as kube-apiserver's authorizer chain (``--authorization-mode=Node,RBAC``)
decides every authenticated request, and RBAC's escalation prevention on role writes.

Sources (kubernetes/kubernetes):

- Request attributes: k8s.io/apiserver ``pkg/endpoints/request/requestinfo.go``
  (``RequestInfoFactory.NewRequestInfo``): ``/api/<v>/...`` and ``/apis/<g>/<v>/...`` with at
  least a resource are resource requests, everything else (``/version``, ``/api``, ``/apis/<g>``,
  ``/apis/<g>/<v>``, ``/openapi/v3``) a non-resource request whose verb is the lowercased HTTP
  method; the verb of a resource request comes from the method (POST create, GET/HEAD get, PUT
  update, PATCH patch, DELETE delete); a GET without a name is list or watch (``watch`` other
  than ``false``/``0``), and takes the name of a ``metadata.name`` field selector; a DELETE
  without a name is deletecollection; ``namespaces/<ns>/status|finalize`` is the namespace's own
  subresource; ``/watch/`` and ``/proxy/`` path prefixes set the verb.
- Rule matching: ``pkg/apis/rbac/v1/evaluation_helpers.go`` (VerbMatches, APIGroupMatches,
  ResourceMatches with ``*``, ``res/sub`` and ``*/sub``, ResourceNameMatches: no names means
  every object, NonResourceURLMatches with a trailing ``*``) and
  ``plugin/pkg/auth/authorizer/rbac/rbac.go`` (RuleAllows; a denial's reason lists the
  resolution errors, ``RBAC: role.rbac.authorization.k8s.io "x" not found``).
- Which rules apply: ``pkg/registry/rbac/validation/rule.go`` (VisitRulesFor: every
  ClusterRoleBinding, then the RoleBindings of the request's namespace, each roleRef to a Role
  of that namespace or a ClusterRole; appliesTo: User by name, Group by membership,
  ServiceAccount as ``system:serviceaccount:<ns>:<name>``, its namespace defaulting to the
  RoleBinding's).
- ``system:masters`` is allowed everything before any authorizer runs
  (k8s.io/apiserver ``pkg/authorization/authorizerfactory``: the privileged-group authorizer
  heads the chain) and is exempt from escalation checks (``pkg/registry/rbac/escalation_check.go``
  EscalationAllowed).
- The bootstrap policy every cluster ships (``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
  policy.go``): ClusterRoles ``cluster-admin``, ``system:discovery``, ``system:basic-user``,
  ``system:public-info-viewer``, bound to ``system:masters`` and ``system:authenticated``.
- Denials: k8s.io/apiserver ``pkg/endpoints/handlers/responsewriters/errors.go`` (Forbidden,
  forbiddenMessage) wrapped by apimachinery ``errors.NewForbidden``.
- Escalation prevention: ``pkg/registry/rbac/{role,clusterrole,rolebinding,
  clusterrolebinding}/policybased/storage.go``, ``pkg/registry/rbac/validation/rule.go``
  (ConfirmNoEscalation) and k8s.io/component-helpers ``auth/rbac/validation/
  policy_comparator.go`` (Covers, BreakdownRule).

Impersonation (k8s.io/apiserver ``pkg/endpoints/filters/impersonation.go``): ``Impersonate-User``
(a ``system:serviceaccount:`` name is the ServiceAccount), ``-Group``, ``-Uid`` and
``-Extra-<key>`` each need the ``impersonate`` verb on users, serviceaccounts, groups, uids or
userextras/<key>; the request then acts as that user, RBAC and admission included.

An allowed request's reason names the binding that allowed it (rule.go's
clusterRoleBindingDescriber/roleBindingDescriber, rbac.go authorizingVisitor: ``RBAC: allowed by
ClusterRoleBinding "x" of ClusterRole "y" to ServiceAccount "name/ns"``), which access reviews
(``reviews.py``) report.

Not emulated: the Node and Webhook authorizers, ABAC, SelfSubjectRulesReview and
LocalSubjectAccessReview (not served), ClusterRole ``aggregationRule`` (nothing the product or its
charts install uses it: such a role keeps the rules it was written with; setting one still needs
cluster-admin's authority, as on a real server), the bootstrap roles as stored objects (they apply,
but are not listed), and the aggregated ``admin``/``edit``/``view`` ClusterRoles.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sandbox.kubernetes.api import AdmissionRequest, ApiError, UserInfo
from sandbox.kubernetes.store import Event, Store

GROUP = "rbac.authorization.k8s.io"
PRIVILEGED_GROUP = "system:masters"
RBAC_KINDS = frozenset({(GROUP, "roles"), (GROUP, "rolebindings"), (GROUP, "clusterroles"),
                        (GROUP, "clusterrolebindings")})

Rule = Mapping[str, Any]

_DISCOVERY_URLS = ["/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi",
                   "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"]
# bootstrappolicy/policy.go clusterRoles(): the ones every authenticated user is bound to, and
# cluster-admin (which clients may bind to anyone).
BOOTSTRAP_CLUSTER_ROLES: dict[str, list[Rule]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "system:discovery": [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}],
    "system:basic-user": [
        {"apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
         "verbs": ["create"]}],
    "system:public-info-viewer": [
        {"nonResourceURLs": ["/livez", "/readyz", "/healthz", "/version", "/version/"],
         "verbs": ["get"]}],
}
# bootstrappolicy/policy.go clusterRoleBindings(): (binding, role, group subjects).
BOOTSTRAP_BINDINGS: list[dict[str, Any]] = [
    {"metadata": {"name": role}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole",
                                             "name": role},
     "subjects": [{"kind": "Group", "apiGroup": GROUP, "name": g} for g in groups]}
    for role, groups in (("cluster-admin", ["system:masters"]),
                         ("system:discovery", ["system:authenticated"]),
                         ("system:basic-user", ["system:authenticated"]),
                         ("system:public-info-viewer",
                          ["system:authenticated", "system:unauthenticated"]))]
# cluster-admin's authority: what setting an aggregationRule needs (clusterrole storage.go).
FULL_AUTHORITY: list[Rule] = BOOTSTRAP_CLUSTER_ROLES["cluster-admin"]

_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update",
                 "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it (k8s.io/apiserver authorizer.AttributesRecord)."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


# The request being served, as kube-apiserver carries its RequestInfo and user in the request's
# context: the escalation checks in the storage layer read it (RoleEscalationAuthorized uses the
# request's own resource, name and namespace).
CURRENT: ContextVar[Attributes | None] = ContextVar("sandbox_k8s_request", default=None)


def privileged(user: UserInfo) -> bool:
    return PRIVILEGED_GROUP in user.groups


def _field_selector_name(selector: str) -> str:
    """The name a ``metadata.name`` equality term of a field selector requires, else ''
    (fields.Selector.RequiresExactMatch, then path.IsValidPathSegmentName)."""
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!"):
            continue
        value = value[1:] if value.startswith("=") else value
        if key.strip() == "metadata.name":
            valid = value not in (".", "..") and "/" not in value and "%" not in value
            return value if valid else ""
    return ""


def request_attributes(user: UserInfo, method: str, path: str,
                       query: Mapping[str, str]) -> Attributes:
    """The attributes of a request (requestinfo.go NewRequestInfo)."""
    parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
    plain = Attributes(user=user, verb=method.lower(), resource_request=False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return plain
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS and len(rest) >= 2:
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    sub = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    name = rest[1] if len(rest) >= 2 else ""
    if not name and verb == "get":
        watch = query.get("watch")
        verb = "watch" if watch is not None and watch.lower() not in ("false", "0") else "list"
        name = _field_selector_name(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user=user, verb=verb, resource_request=True, path=path, api_group=group,
                      api_version=version, resource=rest[0], subresource=sub,
                      namespace=namespace, name=name)


_SA_PREFIX = "system:serviceaccount:"
_EXTRA_PREFIX = "impersonate-extra-"


def impersonation_requests(headers: Iterable[tuple[str, str]]
                           ) -> list[tuple[str, str, str, str]]:
    """What the ``Impersonate-*`` headers ask to act as, each as (resource, namespace, name,
    subresource) to authorize with the ``impersonate`` verb (filters/impersonation.go
    buildImpersonationRequests); groups, a uid or extras without a user are an error."""
    user, out, others = "", [], []
    for key, value in headers:
        low = key.lower()
        if low == "impersonate-user":
            user = user or value
        elif low == "impersonate-group":
            others.append(("groups", "", value, ""))
        elif low == "impersonate-uid":
            others.append(("uids", "", value, ""))
        elif low.startswith(_EXTRA_PREFIX):
            others.append(("userextras", "", value, low[len(_EXTRA_PREFIX):]))
    if user:
        ns, sep, name = user[len(_SA_PREFIX):].partition(":") \
            if user.startswith(_SA_PREFIX) else ("", "", "")
        out.append(("serviceaccounts", ns, name, "") if sep and ns and name
                   else ("users", "", user, ""))
    elif others:
        raise ApiError(500, "InternalError", "requested impersonation of groups, a uid or "
                       "extras without impersonating a user")
    return out + others


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return "*" in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return "*" in groups or group in groups


def resource_matches(rule: Rule, combined: str, sub: str) -> bool:
    for res in rule.get("resources") or ():
        if res == "*" or res == combined:
            return True
        if sub and len(res) == len(sub) + 2 and res.startswith("*/") and res.endswith(sub):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: Rule, url: str) -> bool:
    for pattern in rule.get("nonResourceURLs") or ():
        if pattern == "*" or pattern == url:
            return True
        if pattern.endswith("*") and url.startswith(pattern.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """rbac.go RuleAllows."""
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name))


def applies_to(user: UserInfo, subject: Mapping[str, Any], namespace: str) -> bool:
    """rule.go appliesToUser: ``namespace`` is the RoleBinding's ('' for a ClusterRoleBinding)."""
    kind = subject.get("kind")
    if kind == "User":
        return user.username == subject.get("name")
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or namespace
        return bool(sa_ns) and \
            user.username == f"system:serviceaccount:{sa_ns}:{subject.get('name')}"
    return False


def forbidden_message(attrs: Attributes, reason: str = "") -> ApiError:
    """The 403 kube-apiserver answers for a denied request (responsewriters.Forbidden)."""
    user = attrs.user.username
    if not attrs.resource_request:
        msg = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        res = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace \
            else "at the cluster scope"
        msg = (f'User "{user}" cannot {attrs.verb} resource "{res}" in API group '
               f'"{attrs.api_group}" {scope}')
    msg = msg.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if reason:
        msg = f"{msg}: {reason}"
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {msg}", {})
    return forbidden(attrs.api_group, attrs.resource, attrs.name, msg)


def forbidden(group: str, resource: str, name: str, err: str) -> ApiError:
    """apimachinery errors.NewForbidden."""
    qualified = f"{resource}.{group}" if group else resource
    message = f'{qualified} "{name}" is forbidden: {err}' if name \
        else f"{qualified} is forbidden: {err}"
    details: dict[str, Any] = {"group": group, "kind": resource} if group \
        else {"kind": resource}
    if name:
        details["name"] = name
    return ApiError(403, "Forbidden", message, details)


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or ``[a, b]`` without repeats."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _go_strings(values: Iterable[str]) -> str:
    """Go's ``%q`` of a []string: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def breakdown(rule: Rule) -> list[dict[str, list[str]]]:
    """policy_comparator.go BreakdownRule: one verb, resource and name per rule."""
    out: list[dict[str, list[str]]] = []
    names = list(rule.get("resourceNames") or [])
    for group in rule.get("apiGroups") or []:
        for res in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                base = {"apiGroups": [group], "resources": [res], "verbs": [verb]}
                out.extend([{**base, "resourceNames": [n]} for n in names] if names else [base])
    for url in rule.get("nonResourceURLs") or []:
        out.extend({"nonResourceURLs": [url], "verbs": [verb]}
                   for verb in rule.get("verbs") or [])
    return out


def _resources_cover(owner: list[str], wanted: list[str]) -> bool:
    if "*" in owner or all(r in owner for r in wanted):
        return True
    for res in wanted:
        if res in owner:
            continue
        if "/" not in res or "*/" + res.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """policy_comparator.go ruleCovers: ``owner`` allows all ``sub`` (a broken-down rule) does."""
    verbs, groups = owner.get("verbs") or [], owner.get("apiGroups") or []
    names, wanted_names = owner.get("resourceNames") or [], sub.get("resourceNames") or []
    urls = owner.get("nonResourceURLs") or []
    return (("*" in verbs or all(v in verbs for v in sub.get("verbs") or []))
            and ("*" in groups or all(g in groups for g in sub.get("apiGroups") or []))
            and _resources_cover(owner.get("resources") or [], sub.get("resources") or [])
            and all(any(_url_covers(o, p) for o in urls)
                    for p in sub.get("nonResourceURLs") or [])
            and (not names if not wanted_names else
                 (not names or all(n in names for n in wanted_names))))


def compact_string(rule: Rule) -> str:
    """evaluation_helpers.go CompactString."""
    fields = [(label, rule.get(key)) for label, key in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs"))]
    return "{" + ", ".join(f"{label}:{_go_strings(v)}" for label, v in fields if v) + "}"


def compact_rules(rules: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """validation/policy_compact.go CompactRules: simple rules (one group, one resource, at
    most one name) of the same target share one rule with all their verbs."""
    simple: dict[tuple[str, str, tuple[str, ...]], dict[str, list[str]]] = {}
    out: list[dict[str, list[str]]] = []
    for r in rules:
        groups, res = r.get("apiGroups") or [], r.get("resources") or []
        names = r.get("resourceNames") or []
        if len(groups) != 1 or len(res) != 1 or len(names) > 1 or r.get("nonResourceURLs"):
            out.append(r)
            continue
        key = (groups[0], res[0], tuple(names))
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + list(r.get("verbs") or [])
        else:
            simple[key] = {k: list(v) for k, v in r.items()}
    return out + list(simple.values())


def _has_aggregation_rule(obj: Mapping[str, Any] | None) -> bool:
    agg = (obj or {}).get("aggregationRule")
    return isinstance(agg, dict) and bool(agg.get("clusterRoleSelectors"))


def _without_gc_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("ownerReferences", "finalizers", "managedFields", "selfLink",
                         "resourceVersion")}
    return {**obj, "metadata": meta}


def only_gc_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """pkg/registry/rbac/helpers.go IsOnlyMutatingGCFields: an update that changes nothing but
    ownerReferences and finalizers (or nothing at all) skips the escalation checks."""
    return _without_gc_fields(new) == _without_gc_fields(old)


class Resolved(NamedTuple):
    """The rules that apply to a user in a namespace (rule.go VisitRulesFor, flattened)."""

    rules: list[Rule]
    sources: list[str]  # the binding that grants each rule, as rule.go describes it
    errors: list[str]  # what could not be resolved (a missing role)


def describe_subject(subject: Mapping[str, Any], binding_namespace: str) -> str:
    """rule.go describeSubject: a ServiceAccount as ``name/namespace``."""
    kind, name = str(subject.get("kind") or ""), str(subject.get("name") or "")
    if kind == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f"{kind} {json.dumps(name)}"


def describe_binding(binding: Mapping[str, Any], subject: Mapping[str, Any],
                     namespace: str) -> str:
    """rule.go clusterRoleBindingDescriber / roleBindingDescriber (``namespace`` is the
    RoleBinding's, '' for a ClusterRoleBinding)."""
    ref = binding.get("roleRef") or {}
    name = str((binding.get("metadata") or {}).get("name") or "")
    what = f"RoleBinding {json.dumps(f'{name}/{namespace}')}" if namespace \
        else f"ClusterRoleBinding {json.dumps(name)}"
    return (f"{what} of {ref.get('kind')} {json.dumps(str(ref.get('name') or ''))} to "
            f"{describe_subject(subject, namespace)}")


class Authorizer:
    """RBAC over the store's Roles, ClusterRoles and bindings, plus the bootstrap policy.

    The rules that apply to a (user, namespace) are resolved once and kept until an RBAC object
    changes or the store is reloaded, so a request costs a dict lookup and a scan of that
    user's rules; ``system:masters`` never gets here.
    """

    def __init__(self, store: Store):
        self.store = store
        self._epoch = 0
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int], dict[tuple[str, tuple[str, ...], str], Resolved]] \
            = ((-1, -1), {})
        store.listeners.append(self._on_event)
        # The latest denials' messages, for tests that show what an account was refused.
        self.denials: deque[str] = deque(maxlen=1000)

    def _on_event(self, ev: Event) -> None:
        if ev.gk in RBAC_KINDS:
            self._epoch += 1

    def rules_for(self, user: UserInfo, namespace: str) -> Resolved:
        """The rules that apply to ``user`` in ``namespace`` ('' for cluster-scoped requests)
        and the errors met resolving them (rule.go RulesFor)."""
        state = (self._epoch, self.store.loads)
        with self._lock:
            if self._cache[0] != state:
                self._cache = (state, {})
            cache = self._cache[1]
        key = (user.username, user.groups, namespace)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = self._resolve(user, namespace)
        return hit

    def _resolve(self, user: UserInfo, namespace: str) -> Resolved:
        out = Resolved([], [], [])
        bindings = [("", b) for b in BOOTSTRAP_BINDINGS] + \
            [("", b) for b in self.store.select((GROUP, "clusterrolebindings"))]
        if namespace:
            bindings += [(namespace, b)
                         for b in self.store.select((GROUP, "rolebindings"), namespace)]
        for ns, binding in bindings:
            # rule.go appliesTo: the first subject that names the user is the one described.
            subject = next((s for s in binding.get("subjects") or []
                            if isinstance(s, dict) and applies_to(user, s, ns)), None)
            if subject is None:
                continue
            found, error = self.role_rules(binding.get("roleRef") or {}, ns)
            out.rules.extend(found)
            out.sources.extend([describe_binding(binding, subject, ns)] * len(found))
            if error:
                out.errors.append(error)
        return out

    def role_rules(self, ref: Mapping[str, Any], namespace: str,
                   plural_errors: bool = False) -> tuple[list[Rule], str]:
        """The rules of a binding's roleRef (rule.go GetRoleReferenceRules), or an error: the
        authorizer's informer names the kind (``role.rbac...``), the storage layer's getter
        (``plural_errors``) the resource (``roles.rbac...``)."""
        kind, name = ref.get("kind"), str(ref.get("name") or "")
        if kind == "Role":
            role = self.store.get((GROUP, "roles"), namespace, name) if namespace else None
        elif kind == "ClusterRole":
            role = self.store.get((GROUP, "clusterroles"), "", name)
            if role is None and name in BOOTSTRAP_CLUSTER_ROLES:
                return BOOTSTRAP_CLUSTER_ROLES[name], ""
        else:
            return [], f'unsupported role reference kind: "{kind}"'
        if role is None:
            what = f"{kind.lower()}s" if plural_errors else kind.lower()
            return [], f'{what}.{GROUP} "{name}" not found'
        return [r for r in role.get("rules") or [] if isinstance(r, dict)], ""

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """rbac.go Authorize: allowed and by which binding (``RBAC: allowed by ...``), or the
        reason of the denial ('' when every binding resolved)."""
        rules, sources, errors = self.rules_for(attrs.user, attrs.namespace)
        for rule, source in zip(rules, sources, strict=True):
            if rule_allows(attrs, rule):
                return True, f"RBAC: allowed by {source}"
        return False, f"RBAC: {_aggregate(errors)}" if errors else ""

    def check(self, attrs: Attributes) -> None:
        """Raise the 403 kube-apiserver answers when no rule allows the request."""
        if privileged(attrs.user):
            return
        allowed, reason = self.authorize(attrs)
        if not allowed:
            error = forbidden_message(attrs, reason)
            self.denials.append(error.message)
            raise error

    def impersonate(self, user: UserInfo, headers: Iterable[tuple[str, str]]) -> UserInfo:
        """The user a request acts as: ``user``, or whom its ``Impersonate-*`` headers name once
        ``user`` may ``impersonate`` each of them (filters/impersonation.go: a denial is the
        403 of that check; a ServiceAccount brings its groups unless groups are given; a
        non-anonymous user is also system:authenticated unless its groups name system:authenticated
        or system:unauthenticated, given groups or not; system:anonymous is also
        system:unauthenticated)."""
        wanted = impersonation_requests(headers)
        if not wanted:
            return user
        username, groups, uid = "", [], ""
        given = any(res == "groups" for res, *_ in wanted)
        for resource, namespace, name, sub in wanted:
            group = "authentication.k8s.io" if resource in ("uids", "userextras") else ""
            self.check(Attributes(user=user, verb="impersonate", resource_request=True,
                                  api_group=group, resource=resource, subresource=sub,
                                  namespace=namespace, name=name))
            if resource == "serviceaccounts":
                username = f"{_SA_PREFIX}{namespace}:{name}"
                if not given:
                    groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
            elif resource == "users":
                username = name
            elif resource == "groups":
                groups.append(name)
            elif resource == "uids":
                uid = name
        if username == "system:anonymous":
            if "system:unauthenticated" not in groups:
                groups.append("system:unauthenticated")
        elif not {"system:authenticated", "system:unauthenticated"} & set(groups):
            groups.append("system:authenticated")
        return UserInfo(username, tuple(groups), uid)

    def confirm_no_escalation(self, user: UserInfo, namespace: str,
                              rules: Iterable[Rule]) -> str:
        """rule.go ConfirmNoEscalation: '' when the user holds every rule, else the error."""
        owner, _sources, errors = self.rules_for(user, namespace)
        missing = [sub for r in rules for sub in breakdown(r)
                   if not any(rule_covers(o, sub) for o in owner)]
        if not missing:
            return ""
        lines = sorted({compact_string(r) for r in compact_rules(missing)})
        msg = (f'user "{user.username}" (groups={_go_strings(user.groups)}) is attempting to '
               "grant RBAC permissions not currently held:\n" + "\n".join(lines))
        if errors:
            msg += f"; resolution errors: [{_aggregate(errors)}]"
        return msg

    def create_on_apply_guard(self, req: AdmissionRequest) -> None:
        """A server-side apply that creates its object is also authorized as ``create``
        (k8s.io/apiserver handlers/patch.go: createValidation wrapped by withAuthorization, whose
        denial carries only the authorizer's reason)."""
        attrs = CURRENT.get()
        if attrs is None or req.operation != "CREATE" or attrs.verb != "patch":
            return
        allowed, reason = self.authorize(replace(attrs, verb="create"))
        if not allowed:
            error = forbidden(attrs.api_group, attrs.resource, attrs.name, reason)
            self.denials.append(error.message)
            raise error

    def escalation_guard(self, req: AdmissionRequest) -> None:
        """The RBAC storage's escalation check on a client's Role/ClusterRole/binding create or
        update (policybased/storage.go), after mutating admission and before validation."""
        attrs = CURRENT.get()
        if req.rt.gk not in RBAC_KINDS or req.obj is None or req.operation == "DELETE" or \
                attrs is None or privileged(attrs.user):
            return
        if req.old is not None and only_gc_fields(req.obj, req.old):
            return
        if req.rt.plural in ("roles", "clusterroles"):
            self._guard_role(req, attrs)
        else:
            self._guard_binding(req, attrs)

    def _guard_role(self, req: AdmissionRequest, attrs: Attributes) -> None:
        # RoleEscalationAuthorized: the ``escalate`` verb on the request's own resource and name
        # (none for a POST).
        if self.authorize(replace(attrs, verb="escalate", subresource=""))[0]:
            return
        assert req.obj is not None
        name = str(req.obj["metadata"].get("name") or "")
        error = self.confirm_no_escalation(attrs.user, attrs.namespace,
                                           req.obj.get("rules") or [])
        if error:
            raise forbidden(GROUP, req.rt.plural, name, error)
        if req.rt.plural == "clusterroles" and (
                _has_aggregation_rule(req.obj) or _has_aggregation_rule(req.old)) and \
                self.confirm_no_escalation(attrs.user, attrs.namespace, FULL_AUTHORITY):
            raise forbidden(GROUP, req.rt.plural, name,
                            "must have cluster-admin privileges to use the aggregationRule")

    def _guard_binding(self, req: AdmissionRequest, attrs: Attributes) -> None:
        assert req.obj is not None
        ref = req.obj.get("roleRef") or {}
        resource = {"Role": "roles", "ClusterRole": "clusterroles"}.get(str(ref.get("kind")))
        # BindingAuthorized: ``bind`` on the referenced role, in the binding's namespace.
        if resource and self.authorize(Attributes(
                user=attrs.user, verb="bind", resource_request=True,
                api_group=str(ref.get("apiGroup") or ""), resource=resource,
                name=str(ref.get("name") or ""), namespace=attrs.namespace))[0]:
            return
        rules, error = self.role_rules(ref, attrs.namespace, plural_errors=True)
        if error:
            if not resource:
                raise ApiError(500, "InternalError", error)
            raise ApiError(404, "NotFound", error, {"name": str(ref.get("name") or ""),
                                                    "group": GROUP, "kind": resource})
        name = str(req.obj["metadata"].get("name") or "")
        error = self.confirm_no_escalation(attrs.user, attrs.namespace, rules)
        if error:
            raise forbidden(GROUP, req.rt.plural, name, error)

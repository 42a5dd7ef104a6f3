"""ValidatingAdmissionPolicy admission (admissionregistration.k8s.io/v1, GA since 1.30), as
kube-apiserver's built-in ``ValidatingAdmissionPolicy`` plugin enforces it.

Sources: the Kubernetes documentation "Validating Admission Policy"
(kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/) and
k8s.io/apiserver ``pkg/admission/plugin/policy/validating`` (``dispatcher.go``,
``validator.go``), ``.../policy/matching/matching.go`` and ``.../webhook/predicates``
(``rules``, ``namespace``, ``object``). What it does:

- Every client write (CREATE, UPDATE, DELETE, with their subresource; dry runs too) is matched
  against each policy's ``matchConstraints``: ``namespaceSelector`` (on the namespace's labels;
  cluster-scoped objects other than Namespaces always match; a Namespace is matched on its own
  labels), ``objectSelector`` (the object's or the old object's labels), ``excludeResourceRules``
  and ``resourceRules`` (``apiGroups``, ``apiVersions``, ``resources`` with ``res/sub`` and
  ``*``, ``operations``, ``scope``, ``resourceNames``). Then each binding of the policy
  (``policyName``) is matched on its own ``matchResources`` (no ``resourceRules``: no limit).
- ``matchConditions`` (CEL): any false skips the binding; an error with none false is a failure
  of the policy. Then ``validations``: one that is not true denies with its ``messageExpression``
  (a one-line string), else its ``message``, else ``failed expression: <expression>``, and its
  ``reason`` (default Invalid; the code follows it: Unauthorized 401, Forbidden 403,
  RequestEntityTooLarge 413, Invalid 422). ``variables`` are evaluated in order, each seeing the
  earlier ones; an error in one surfaces only where it is used.
- Failures (an expression that does not compile or fails to evaluate, a misconfigured policy)
  deny under ``failurePolicy: Fail`` (the default) and are ignored under ``Ignore``.
- ``validationActions``: Deny answers the first denial as ``<resource> "<name>" is forbidden:
  ValidatingAdmissionPolicy '<policy>' with binding '<binding>' denied request: <message>``
  with the reason's code and the message as a cause; Warn adds ``Validation failed for
  ValidatingAdmissionPolicy '<policy>' with binding '<binding>': <message>`` to the response's
  ``Warning`` header; Audit is accepted and has no effect (the sandbox keeps no audit log).
- CEL variables: ``object`` and ``oldObject`` (null on CREATE and DELETE respectively),
  ``request`` (``kind``, ``resource``, ``subResource``, ``requestKind``, ``requestResource``,
  ``requestSubResource``, ``name``, ``namespace``, ``operation``, ``userInfo`` with
  ``username``/``uid``/``groups``, ``dryRun``, ``uid``), ``namespaceObject`` (null for
  cluster-scoped objects), ``variables``, ``params`` (always null, see below).
- Policies and bindings themselves, and webhook configurations, are never subject to policies
  (``rules.IsExemptAdmissionConfigurationResource``).

A policy or binding being written is validated as the API server does for the common cases
(required fields, supported actions and failure policies, Deny with Warn, expressions that do
not parse: 422 Invalid); type checking (an undeclared variable or function) is not done then,
so such an expression fails when evaluated, under the policy's ``failurePolicy``.

Not emulated: ``paramKind``/``paramRef`` (a policy with a ``paramKind`` is a misconfigured policy
here, so its ``failurePolicy`` decides), ``authorizer``, the Kubernetes CEL libraries (quantity,
URL, IP, regex ``find``, ``isSorted``...; standard CEL only, by cel-python: ``cel.py``), cost
budgets, ``auditAnnotations``, type checking into ``status.typeChecking``, matching of equivalent
versions (the sandbox serves one version per kind), TokenRequests (``serviceaccounts/token``)
passing admission, and the object of a ``scale`` write is the parent object rather than an
``autoscaling/v1`` Scale.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.cel import CelError, Expression, celpy, is_false, is_true
from sandbox.kubernetes.store import Store

if TYPE_CHECKING:
    from sandbox.kubernetes.api import AdmissionRequest

GROUP = "admissionregistration.k8s.io"
POLICIES = (GROUP, "validatingadmissionpolicies")
BINDINGS = (GROUP, "validatingadmissionpolicybindings")
_EXEMPT_KINDS = {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
                 "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                 "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"}
_CODES = {"Unauthorized": 401, "Forbidden": 403, "RequestEntityTooLarge": 413, "Invalid": 422}


@dataclass(frozen=True)
class Validation:
    expression: Expression
    message: str
    message_expression: Expression | None
    reason: str


@dataclass(frozen=True)
class CompiledPolicy:
    """A ValidatingAdmissionPolicy with its expressions compiled, for one resourceVersion."""

    name: str
    resource_version: str
    failure_policy: str
    match: dict[str, Any]
    conditions: tuple[Expression, ...]
    variables: tuple[tuple[str, Expression], ...]
    validations: tuple[Validation, ...]
    config_error: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> CompiledPolicy:
        spec = obj.get("spec") or {}
        validations = tuple(
            Validation(Expression.compile(str(v.get("expression") or "")),
                       str(v.get("message") or ""),
                       Expression.compile(v["messageExpression"])
                       if v.get("messageExpression") else None,
                       str(v.get("reason") or "Invalid"))
            for v in spec.get("validations") or [])
        config_error = ""
        if spec.get("paramKind"):
            config_error = ("failed to configure policy: paramKind is not supported by the "
                            "sandbox's Kubernetes API")
        return cls(
            name=obj["metadata"]["name"], resource_version=obj["metadata"]["resourceVersion"],
            failure_policy=str(spec.get("failurePolicy") or "Fail"),
            match=spec.get("matchConstraints") or {},
            conditions=tuple(Expression.compile(str(c.get("expression") or ""))
                             for c in spec.get("matchConditions") or []),
            variables=tuple((str(v.get("name")), Expression.compile(str(v.get("expression"))))
                            for v in spec.get("variables") or []),
            validations=validations, config_error=config_error)


@dataclass(frozen=True)
class Decision:
    """A validation that failed (or a failure under ``failurePolicy: Fail``)."""

    policy: str
    binding: str
    message: str
    reason: str = "Invalid"


def rule_matches(rule: dict[str, Any], req: AdmissionRequest) -> bool:
    """rules.Matcher.Matches: scope, operation, group, version and resource/subresource."""
    rt = req.rt
    scope = rule.get("scope") or "*"
    cluster = not req.namespace or rt.gk == ("", "namespaces")
    if scope != "*" and (scope == "Cluster") != cluster:
        return False
    if not _exact_or_wildcard(rule.get("operations"), req.operation):
        return False
    if not (_exact_or_wildcard(rule.get("apiGroups"), rt.group)
            and _exact_or_wildcard(rule.get("apiVersions"), rt.version)):
        return False
    for entry in rule.get("resources") or []:
        res, _, sub = str(entry).partition("/")
        if res in ("*", rt.plural) and (sub == "*" or sub == req.subresource):
            return True
    return False


def _exact_or_wildcard(items: Any, value: str) -> bool:
    return any(i == "*" or i == value for i in items or [])


def _rules_match(rules: list[dict[str, Any]], req: AdmissionRequest) -> bool:
    for rule in rules:
        names = rule.get("resourceNames") or []
        if rule_matches(rule, req) and (not names or req.name in names):
            return True
    return False


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    """A metav1.LabelSelector (empty: everything) on a label set."""
    from sandbox.kubernetes.api import _selector_matches

    if not selector:
        return True
    return _selector_matches(selector, labels)


def _labels(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


class ValidatingAdmissionPolicies:
    """The admission plugin: reads the stored policies and bindings on every write, and
    compiles a policy's expressions once per resourceVersion."""

    def __init__(self, store: Store):
        self.store = store
        self._compiled: dict[str, CompiledPolicy] = {}

    def compiled(self, obj: dict[str, Any]) -> CompiledPolicy:
        name, rv = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
        cached = self._compiled.get(name)
        if cached is None or cached.resource_version != rv:
            cached = self._compiled[name] = CompiledPolicy.of(obj)
        return cached

    def __call__(self, req: AdmissionRequest) -> None:
        if req.rt.group == GROUP and req.rt.kind in _EXEMPT_KINDS:
            return
        policies = self.store.select(POLICIES)
        if len(self._compiled) > len(policies):  # some were deleted: forget them
            names = {p["metadata"]["name"] for p in policies}
            self._compiled = {k: v for k, v in self._compiled.items() if k in names}
        if not policies:
            return
        bindings: dict[str, list[dict[str, Any]]] = {}
        for b in sorted(self.store.select(BINDINGS), key=lambda o: o["metadata"]["name"]):
            bindings.setdefault(str((b.get("spec") or {}).get("policyName")), []).append(b)
        denied: list[Decision] = []
        for obj in sorted(policies, key=lambda o: o["metadata"]["name"]):
            if obj["metadata"]["name"] in bindings:
                denied += self._policy(self.compiled(obj), bindings[obj["metadata"]["name"]],
                                       req)
        if denied:
            raise _denial(req, denied[0])

    def _in_scope(self, match: dict[str, Any], req: AdmissionRequest) -> bool:
        """matching.Matcher.Matches for a policy's matchConstraints or a binding's
        matchResources."""
        if not self._namespace_matches(match.get("namespaceSelector"), req):
            return False
        if not (selector_matches(match.get("objectSelector"), _labels(req.obj))
                or (req.old is not None and selector_matches(match.get("objectSelector"),
                                                              _labels(req.old)))):
            return False
        if _rules_match(match.get("excludeResourceRules") or [], req):
            return False
        rules = match.get("resourceRules") or []
        return not rules or _rules_match(rules, req)

    def _namespace_matches(self, selector: dict[str, Any] | None,
                           req: AdmissionRequest) -> bool:
        is_namespace = req.rt.gk == ("", "namespaces")
        if not req.namespace and not is_namespace:
            return True
        if not selector:
            return True
        if is_namespace and req.operation in ("CREATE", "UPDATE") and not req.subresource:
            return selector_matches(selector, _labels(req.obj))
        ns = self.store.get(("", "namespaces"), "", req.namespace or req.name)
        return selector_matches(selector, _labels(ns))

    def _policy(self, policy: CompiledPolicy, bindings: list[dict[str, Any]],
                req: AdmissionRequest) -> list[Decision]:
        if not self._in_scope(policy.match, req):
            return []
        if policy.config_error:
            return [] if policy.failure_policy == "Ignore" else [
                Decision(policy.name, "", policy.config_error)]
        out: list[Decision] = []
        activation: dict[str, Any] | None = None
        for binding in bindings:
            spec = binding.get("spec") or {}
            if not self._in_scope(spec.get("matchResources") or {}, req):
                continue
            if activation is None:
                activation = self._activation(policy, req)
            name = binding["metadata"]["name"]
            for d in _validate(policy, name, activation):
                out += _enforce(d, spec.get("validationActions") or [], req)
        return out

    def _activation(self, policy: CompiledPolicy, req: AdmissionRequest) -> dict[str, Any]:
        ns = None
        if req.namespace and req.rt.gk != ("", "namespaces"):
            ns = self.store.get(("", "namespaces"), "", req.namespace)
            if ns is not None:
                ns = {**ns, "metadata": {k: v for k, v in ns["metadata"].items()
                                         if k not in ("managedFields", "ownerReferences")}}
        values = {"object": req.obj, "oldObject": req.old, "request": request_of(req),
                  "namespaceObject": ns, "params": None}
        activation = {k: celpy().json_to_cel(v) for k, v in values.items()}
        activation["variables"] = _variables(policy, activation)
        return activation


def _variables(policy: CompiledPolicy, activation: dict[str, Any]) -> Any:
    """The policy's variables in order, each seeing the earlier ones; a failed one is kept as
    cel-python's error value, so it fails only an expression that uses it."""
    celtypes = celpy().celtypes
    values = celtypes.MapType({})
    for name, expr in policy.variables:
        try:
            value = expr.evaluate({**activation, "variables": values})
        except CelError as exc:
            value = celpy().CELEvalError(str(exc))
        values[celtypes.StringType(name)] = value
    return values


def _validate(policy: CompiledPolicy, binding: str,
              activation: dict[str, Any]) -> list[Decision]:
    """validator.Validate: match conditions, then every validation."""
    fail = policy.failure_policy != "Ignore"
    errors: list[str] = []
    for cond in policy.conditions:
        try:
            if is_false(cond.evaluate(activation)):
                return []
        except CelError as exc:
            errors.append(str(exc))
    if errors:
        # utilerrors.NewAggregate's text: one error alone, several in brackets.
        text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        return [Decision(policy.name, binding, text)] if fail else []
    out: list[Decision] = []
    for v in policy.validations:
        try:
            ok = v.expression.evaluate(activation)
        except CelError as exc:
            if fail:
                out.append(Decision(policy.name, binding, str(exc)))
            continue
        if not is_true(ok):
            out.append(Decision(policy.name, binding, _message(v, activation), v.reason))
    return out


def _message(v: Validation, activation: dict[str, Any]) -> str:
    """messageExpression (a non-empty one-line string), else message, else the expression."""
    if v.message_expression is not None:
        try:
            text = v.message_expression.evaluate(activation)
        except CelError:
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text.strip():
            return text.strip()
    if v.message.strip():
        return v.message.strip()
    return f"failed expression: {v.expression.source.strip()}"


def _enforce(d: Decision, actions: list[str], req: AdmissionRequest) -> list[Decision]:
    """The binding's validationActions: Deny keeps the decision, Warn adds a warning, Audit
    publishes to an audit log the sandbox does not keep."""
    if "Warn" in actions:
        req.warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{d.policy}' "
                            f"with binding '{d.binding}': {d.message}")
    return [d] if "Deny" in actions else []


def request_of(req: AdmissionRequest) -> dict[str, Any]:
    """The ``request`` variable: an admission.k8s.io/v1 AdmissionRequest."""
    rt = req.rt
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
    # A Namespace's own requests carry its name as their namespace (admission.Attributes, as
    # predicates/rules/rules.go notes).
    namespace = req.name if rt.gk == ("", "namespaces") else req.namespace
    out: dict[str, Any] = {
        "uid": str(uuid.uuid4()), "kind": kind, "resource": resource,
        "requestKind": kind, "requestResource": resource, "name": req.name,
        "namespace": namespace, "operation": req.operation,
        "userInfo": req.user.to_dict(), "dryRun": req.dry_run}
    if req.subresource:
        out["subResource"] = out["requestSubResource"] = req.subresource
    return out


def _denial(req: AdmissionRequest, d: Decision) -> Exception:
    """admission.NewForbidden with the decision's reason and code (dispatcher.go)."""
    from sandbox.kubernetes.api import ApiError

    text = (f"ValidatingAdmissionPolicy '{d.policy}' with binding '{d.binding}' denied "
            f"request: {d.message}" if d.binding else
            f"ValidatingAdmissionPolicy '{d.policy}' denied request: {d.message}")
    name = req.name or "Unknown"
    return ApiError(_CODES.get(d.reason, 422), d.reason,
                    f'{req.rt.resource} "{name}" is forbidden: {text}',
                    {"name": name, "group": req.rt.group, "kind": req.rt.plural,
                     "causes": [{"message": text}]})


def object_causes(kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    """What the API server's validation refuses in a policy or binding being written, as
    (field, message) (pkg/apis/admissionregistration/validation/validation.go, the common
    cases: required fields, supported values, expressions that do not parse)."""
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    if kind == "ValidatingAdmissionPolicyBinding":
        return _binding_causes(spec)
    if kind == "ValidatingAdmissionPolicy":
        return _policy_causes(spec)
    return []


def _binding_causes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not spec.get("policyName"):
        out.append(("spec.policyName", "Required value"))
    actions = spec.get("validationActions") or []
    seen: set[str] = set()
    for i, action in enumerate(actions):
        if action not in ("Audit", "Deny", "Warn"):
            out.append((f"spec.validationActions[{i}]", f'Unsupported value: "{action}": '
                        'supported values: "Audit", "Deny", "Warn"'))
        if action in seen:
            out.append((f"spec.validationActions[{i}]", f'Duplicate value: "{action}"'))
        seen.add(str(action))
    if {"Deny", "Warn"} <= seen:
        listed = ", ".join(f'"{a}"' for a in actions)
        out.append(("spec.validationActions", f"Invalid value: []string{{{listed}}}: must not "
                    "contain both Deny and Warn (repeating the same validation failure "
                    "information in the API response and headers serves no purpose)"))
    if not seen:
        out.append(("spec.validationActions",
                    "Required value: at least one validation action is required"))
    return out


def _policy_causes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if spec.get("failurePolicy") not in ("Fail", "Ignore"):
        out.append(("spec.failurePolicy", f'Unsupported value: "{spec.get("failurePolicy")}": '
                    'supported values: "Fail", "Ignore"'))
    match = spec.get("matchConstraints")
    if not isinstance(match, dict):
        out.append(("spec.matchConstraints", "Required value"))
    elif not match.get("resourceRules"):
        out.append(("spec.matchConstraints.resourceRules", "Required value"))
    out += _condition_causes(spec.get("matchConditions") or [])
    for i, var in enumerate(spec.get("variables") or []):
        path = f"spec.variables[{i}]"
        if not str(var.get("name") or "").strip():
            out.append((f"{path}.name", "Required value: name is not specified"))
        out += _expression_causes(f"{path}.expression", var.get("expression"),
                                  ": expression is not specified")
    if not spec.get("validations") and not spec.get("auditAnnotations"):
        for fld in ("validations", "auditAnnotations"):
            out.append((f"spec.{fld}", "Required value: validations or auditAnnotations must "
                        "contain at least one item"))
    for i, v in enumerate(spec.get("validations") or []):
        path = f"spec.validations[{i}]"
        out += _expression_causes(f"{path}.expression", v.get("expression"),
                                  ": expression is not specified")
        if str(v.get("messageExpression") or "").strip():
            out += _expression_causes(f"{path}.messageExpression", v["messageExpression"], "")
    return out


def _condition_causes(conditions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    names: set[str] = set()
    for i, cond in enumerate(conditions):
        path = f"spec.matchConditions[{i}]"
        name = str(cond.get("name") or "")
        if not name:
            out.append((f"{path}.name", "Required value"))
        elif name in names:
            out.append((f"{path}.name", f'Duplicate value: "{name}"'))
        names.add(name)
        out += _expression_causes(f"{path}.expression", cond.get("expression"), "")
    return out


def _expression_causes(path: str, source: Any, required: str) -> list[tuple[str, str]]:
    text = str(source or "").strip()
    if not text:
        return [(path, f"Required value{required}")]
    error = Expression.compile(text).error
    return [(path, f'Invalid value: "{text}": {error}')] if error else []

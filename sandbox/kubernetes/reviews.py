"""Access reviews (authorization.k8s.io/v1): ``SelfSubjectAccessReview``, what ``kubectl auth
can-i`` asks, and ``SubjectAccessReview``, answered by the same authorizer as every request.

Sources (kubernetes/kubernetes unless noted):

- ``pkg/registry/authorization/selfsubjectaccessreview/rest.go`` (REST.Create): the body is
  validated, the user to check is the requester (``genericapirequest.UserFrom``: after
  impersonation), the attributes come from ``spec.resourceAttributes`` or
  ``spec.nonResourceAttributes``, and the answer is the object with ``status.allowed`` (the
  decision is Allow), ``status.denied`` (Deny: RBAC never denies) and ``status.reason``;
  nothing is stored. ``subjectaccessreview/rest.go``: the user to check is
  ``spec.user``/``groups``/``uid``/``extra`` as given (no ``system:authenticated`` is added).
- ``pkg/apis/authorization/validation/validation.go``: exactly one of the attribute kinds
  (``cannot be specified in combination with resourceAttributes``, ``exactly one of
  nonResourceAttributes or resourceAttributes must be specified``), for a SubjectAccessReview
  ``at least one of user or group must be specified``, ``metadata`` ``must be empty``; errors
  are apimachinery ``errors.NewInvalid`` with the kind qualified by the group and name "".
- ``pkg/registry/authorization/util/helpers.go`` (ResourceAttributesFrom,
  NonResourceAttributesFrom): an empty version is ``*``.
- The decision is the authorizer chain's (k8s.io/apiserver ``pkg/authorization/union``): the
  privileged group ``system:masters`` is allowed with no reason, then RBAC (``rbac.py``), whose
  allowed reason names the binding; Node and RBAC both without opinion leave reason ''.
- Who may create them: ``create`` on the resource, authorized like any request before this
  runs; ``system:basic-user`` grants ``selfsubjectaccessreviews`` to every authenticated user.
- The wire: kubectl's typed client sends the review as protobuf (read by
  ``protobuf_bodies.py``) and accepts JSON back, which is answered.

Not emulated: protobuf responses (JSON is answered, which the clients accept), label and field
selectors in ``resourceAttributes`` (kept and ignored, as RBAC ignores them; their validation
and ``evaluationError`` are not), the value of a non-empty ``metadata`` in its error (JSON here,
Go's ``%#v`` there), admission of the reviews.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.kubernetes import govalue, rbac
from sandbox.kubernetes.api import UserInfo, invalid
from sandbox.kubernetes.registry import ResourceType

GROUP = "authorization.k8s.io"
SELF = (GROUP, "selfsubjectaccessreviews")
SUBJECT = (GROUP, "subjectaccessreviews")
KINDS = frozenset({SELF, SUBJECT})
PATHS = frozenset(f"/apis/{GROUP}/v1/{plural}" for _, plural in KINDS)
COUNTED_AS = "REVIEW"  # the sandbox's request counts (``GET /requests``): not a write

Json = dict[str, Any]


def _go_value(value: Any) -> str:
    """How field.Invalid prints a value: ``"null"`` for nil, strings quoted, structs as
    ``%#v`` (a Go literal of the internal type)."""
    if value is None or isinstance(value, str):
        return govalue.value(value)
    path, verb = json.dumps(str(value.get("path") or "")), json.dumps(str(value.get("verb") or ""))
    return f"authorization.NonResourceAttributes{{Path:{path}, Verb:{verb}}}"


def validate(rt: ResourceType, review: Json) -> list[tuple[str, str]]:
    """validation.go ValidateSelfSubjectAccessReview / ValidateSubjectAccessReview."""
    spec = review.get("spec") or {}
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    causes: list[tuple[str, str]] = []
    if res is not None and non is not None:
        causes.append(("spec.nonResourceAttributes", f"Invalid value: {_go_value(non)}: cannot "
                       "be specified in combination with resourceAttributes"))
    if res is None and non is None:
        causes.append(("spec.resourceAttributes", 'Invalid value: "null": exactly one of '
                       "nonResourceAttributes or resourceAttributes must be specified"))
    if rt.gk == SUBJECT and not spec.get("user") and not spec.get("groups"):
        causes.append(("spec.user", f"Invalid value: {json.dumps(spec.get('user') or '')}: "
                       "at least one of user or group must be specified"))
    meta = {k: v for k, v in (review.get("metadata") or {}).items()
            if k != "managedFields" and v not in (None, "", {}, [], 0)}
    if meta:
        causes.append(("metadata", f"Invalid value: {json.dumps(meta, sort_keys=True)}: "
                       "must be empty"))
    return causes


def attributes(user: UserInfo, spec: Mapping[str, Any]) -> rbac.Attributes:
    """helpers.go ResourceAttributesFrom / NonResourceAttributesFrom."""
    res = spec.get("resourceAttributes")
    if res is not None:
        return rbac.Attributes(
            user=user, verb=str(res.get("verb") or ""), resource_request=True,
            api_group=str(res.get("group") or ""),
            api_version=str(res.get("version") or "*"), resource=str(res.get("resource") or ""),
            subresource=str(res.get("subresource") or ""),
            namespace=str(res.get("namespace") or ""), name=str(res.get("name") or ""))
    non = spec.get("nonResourceAttributes") or {}
    return rbac.Attributes(user=user, verb=str(non.get("verb") or ""), resource_request=False,
                           path=str(non.get("path") or ""))


def _subject(spec: Mapping[str, Any]) -> UserInfo:
    """subjectaccessreview/rest.go: the user as the spec gives it, groups and all."""
    return UserInfo(str(spec.get("user") or ""), tuple(str(g) for g in spec.get("groups") or []),
                    str(spec.get("uid") or ""))


def review(rt: ResourceType, body: Json, requester: UserInfo,
           authorize: Callable[[rbac.Attributes], tuple[bool, str]]) -> Json:
    """The answered review (rest.go Create): ``body`` decoded, validated, evaluated."""
    causes = validate(rt, body)
    if causes:
        raise invalid(rt, "", causes)
    spec = body.get("spec") or {}
    user = requester if rt.gk == SELF else _subject(spec)
    if rbac.privileged(user):
        allowed, reason = True, ""
    else:
        allowed, reason = authorize(attributes(user, spec))
    status: Json = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {"kind": rt.kind, "apiVersion": rt.api_version,
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

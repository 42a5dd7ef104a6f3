"""Jobs: the ``podFailurePolicy`` the API server validates and defaults, and how the Job
controller matches a failed pod against it.

Validation (k8s.io/kubernetes pkg/apis/batch/validation/validation.go, v1.31+:
``validatePodFailurePolicy``, ``validatePodFailurePolicyRule``,
``validatePodFailurePolicyRuleOnExitCodes``, ``...OnPodConditions``, the restartPolicy check of
``validateJobSpec`` and ``validatePodReplacementPolicy``): at most 20 rules; an action of Count,
FailIndex (only with ``backoffLimitPerIndex``), FailJob or Ignore; one of ``onExitCodes`` and
``onPodConditions``, not both; an operator In or NotIn, a ``containerName`` of the template's
containers or initContainers, 1 to 255 ordered, distinct values, none 0 for In; at most 20
condition patterns whose type is a qualified name and status True, False or Unknown; the pod
template's ``restartPolicy`` Never; ``podReplacementPolicy`` Failed. Every Job, and a CronJob's
``jobTemplate`` (``ValidateCronJobSpec`` -> ``validateJobTemplateSpec`` -> ``validateJobSpec``),
needs a ``restartPolicy`` of OnFailure or Never: an omitted one is defaulted to Always
(``SetDefaults_PodSpec``) before validation, and both are refused with ``Required value``.
Defaulting (pkg/apis/batch/v1/defaults.go ``SetDefaults_Job``): a pattern's status is True,
``podReplacementPolicy`` Failed with a podFailurePolicy and TerminatingOrFailed without.

Policy matching (pkg/controller/job/pod_failure_policy.go ``matchPodFailurePolicy``) and
which pod counts as failed (job_controller.go ``isPodFailed``) are here for the Job controller
(``job_controller.py``).
"""

from __future__ import annotations

from typing import Any

from sandbox.kubernetes import govalue
from sandbox.kubernetes.storage import _qualified_name

Json = dict[str, Any]
Cause = tuple[str, str]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")
OPERATORS = ("In", "NotIn")
STATUSES = ("False", "True", "Unknown")
MAX_RULES, MAX_VALUES, MAX_PATTERNS = 20, 255, 20
REASON_POLICY = "PodFailurePolicy"
_TERMINAL = ("Succeeded", "Failed")


def _go_list(values: list[str]) -> str:
    """``%q`` of a sorted set: ``["Count" "FailIndex"]``."""
    return "[" + " ".join(govalue.quote(v) for v in values) + "]"


def _supported(values: tuple[str, ...]) -> str:
    return "supported values: " + ", ".join(govalue.quote(v) for v in values)


def _one_of(path: str, value: Any, allowed: tuple[str, ...]) -> list[Cause]:
    """``field.Required`` with the valid values (``%q`` of the sorted set) when empty,
    ``field.NotSupported`` when not one of them."""
    if not value:
        return [(path, f"Required value: valid values: {_go_list(list(allowed))}")]
    if value not in allowed:
        return [(path, f"Unsupported value: {govalue.value(value)}: {_supported(allowed)}")]
    return []


def _int32s(values: Any) -> str:
    """``%#v`` of a ``[]int32``."""
    if values is None:
        return "[]int32(nil)"
    return "[]int32{" + ", ".join(str(v) for v in values) + "}"


def default_spec(spec: Any) -> None:
    """``SetDefaults_Job``'s podFailurePolicy part: a pattern's status True, and the
    podReplacementPolicy that goes with the policy."""
    if not isinstance(spec, dict):
        return
    policy = spec.get("podFailurePolicy")
    for rule in (policy or {}).get("rules") or [] if isinstance(policy, dict) else []:
        for pattern in (rule or {}).get("onPodConditions") or [] if isinstance(rule, dict) else []:
            if isinstance(pattern, dict) and not pattern.get("status"):
                pattern["status"] = "True"
    spec.setdefault("podReplacementPolicy",
                    "Failed" if policy is not None else "TerminatingOrFailed")


def spec_causes(job: Json) -> list[Cause]:
    """The podFailurePolicy, podReplacementPolicy and restartPolicy errors of
    ``validateJobSpec`` for a Job."""
    spec = job.get("spec")
    return job_spec_causes(spec if isinstance(spec, dict) else {}, "spec")


def cron_job_causes(cron_job: Json) -> list[Cause]:
    """The same errors for a CronJob's ``spec.jobTemplate.spec`` (``validateJobTemplateSpec``)."""
    cron_spec = cron_job.get("spec")
    template = cron_spec.get("jobTemplate") if isinstance(cron_spec, dict) else None
    spec = template.get("spec") if isinstance(template, dict) else None
    return job_spec_causes(spec if isinstance(spec, dict) else {}, "spec.jobTemplate.spec")


def job_spec_causes(spec: Json, at: str) -> list[Cause]:
    """``validateJobSpec``'s podFailurePolicy, podReplacementPolicy and restartPolicy checks
    for the JobSpec at path ``at``."""
    causes: list[Cause] = []
    if isinstance(spec.get("podFailurePolicy"), dict):
        path = f"{at}.podFailurePolicy.rules"
        rules = spec["podFailurePolicy"].get("rules") or []
        if len(rules) > MAX_RULES:
            causes.append((path, f"Too many: {len(rules)}: must have at most {MAX_RULES} items"))
        names = _container_names(spec)
        for i, rule in enumerate(rules):
            causes += _rule_causes(spec, rule if isinstance(rule, dict) else {},
                                   f"{path}[{i}]", names)
    causes += _replacement_causes(spec, at)
    return causes + _restart_policy_causes(spec, at)


def _container_names(spec: Json) -> set[str]:
    pod = ((spec.get("template") or {}).get("spec") or {})
    return {str(c.get("name")) for k in ("containers", "initContainers")
            for c in pod.get(k) or [] if isinstance(c, dict)}


def _rule_causes(spec: Json, rule: Json, path: str, names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    action = rule.get("action") or ""
    causes += _one_of(f"{path}.action", action, ACTIONS)
    if action == "FailIndex" and spec.get("backoffLimitPerIndex") is None:
        causes.append((f"{path}.action", f"Invalid value: {govalue.quote(action)}: requires "
                       "the backoffLimitPerIndex to be set"))
    codes, patterns = rule.get("onExitCodes"), rule.get("onPodConditions") or []
    if isinstance(codes, dict):
        causes += _exit_code_causes(codes, f"{path}.onExitCodes", names)
    if patterns:
        causes += _pattern_causes(patterns, f"{path}.onPodConditions")
    if codes is not None and patterns:
        causes.append((path, "Invalid value: specifying both OnExitCodes and OnPodConditions "
                       "is not supported"))
    if codes is None and not patterns:
        causes.append((path, "Invalid value: specifying one of OnExitCodes and OnPodConditions "
                       "is required"))
    return causes


def _pattern_causes(patterns: list[Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if len(patterns) > MAX_PATTERNS:
        causes.append((path, f"Too many: {len(patterns)}: must have at most {MAX_PATTERNS} items"))
    for j, pattern in enumerate(patterns):
        pattern = pattern if isinstance(pattern, dict) else {}
        ctype, status = str(pattern.get("type") or ""), pattern.get("status") or ""
        causes += [(f"{path}[{j}].type", f"Invalid value: {govalue.quote(ctype)}: {m}")
                   for m in _qualified_name(ctype)]
        causes += _one_of(f"{path}[{j}].status", status, STATUSES)
    return causes


def _exit_code_causes(codes: Json, path: str, names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    operator = codes.get("operator") or ""
    causes += _one_of(f"{path}.operator", operator, OPERATORS)
    name = codes.get("containerName")
    if name is not None and name not in names:
        causes.append((f"{path}.containerName", f"Invalid value: {govalue.quote(str(name))}: "
                       "must be one of the container or initContainer names in the pod "
                       "template"))
    values = codes.get("values")
    if not values:
        causes.append((f"{path}.values", f"Invalid value: {_int32s(values)}: at least one "
                       "value is required"))
    elif len(values) > MAX_VALUES:
        causes.append((f"{path}.values", f"Too many: {len(values)}: must have at most "
                       f"{MAX_VALUES} items"))
    seen: set[int] = set()
    for j, value in enumerate(values or []):
        if operator == "In" and value == 0:
            causes.append((f"{path}.values[{j}]", "Invalid value: 0: must not be 0 for the In "
                           "operator"))
        if value in seen:
            causes.append((f"{path}.values[{j}]", f"Duplicate value: {value}"))
        seen.add(value)
    if any(a > b for a, b in zip(values or [], (values or [])[1:], strict=False)):
        causes.append((f"{path}.values", f"Invalid value: {_int32s(values)}: must be ordered"))
    return causes


def _replacement_causes(spec: Json, at: str) -> list[Cause]:
    wanted = spec.get("podReplacementPolicy")
    if wanted is None:
        return []
    allowed = ("Failed",) if spec.get("podFailurePolicy") is not None \
        else ("Failed", "TerminatingOrFailed")
    if wanted in allowed:
        return []
    return [(f"{at}.podReplacementPolicy",
             f"Unsupported value: {govalue.value(wanted)}: {_supported(allowed)}")]


def _restart_policy_causes(spec: Json, at: str) -> list[Cause]:
    """The template's restartPolicy: OnFailure or Never, and Never with a podFailurePolicy.
    Always, which an omitted one is defaulted to, gets ``field.Required``, not NotSupported."""
    path = f"{at}.template.spec.restartPolicy"
    template = spec.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    policy = (pod.get("restartPolicy") if isinstance(pod, dict) else None) or "Always"
    if policy == "Always":
        return [(path, 'Required value: valid values: "OnFailure", "Never"')]
    if policy not in ("OnFailure", "Never"):
        return [(path, f"Unsupported value: {govalue.value(policy)}: "
                 f"{_supported(('OnFailure', 'Never'))}")]
    if policy != "Never" and spec.get("podFailurePolicy") is not None:
        return [(path, f'Invalid value: {govalue.quote(policy)}: only "Never" is supported '
                 "when podFailurePolicy is specified")]
    return []


def match_policy(policy: Any, pod: Json) -> tuple[str | None, bool, str | None]:
    """``matchPodFailurePolicy``: (the FailJob message, whether the failure counts towards
    backoffLimit, the matched action) for a failed pod; FailIndex counts, as for a Job that is
    not Indexed. A rule with an unknown action is skipped."""
    if not isinstance(policy, dict):
        return None, True, None
    status = pod.get("status") or {}
    meta = pod["metadata"]
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            hit = _exit_code_match(status, rule["onExitCodes"])
            if hit is None:
                continue
            message = (f"Container {hit.get('name')} for pod {meta['namespace']}/{meta['name']} "
                       f"failed with exit code {hit['state']['terminated'].get('exitCode')} "
                       f"matching {action} rule at index {index}")
        elif rule.get("onPodConditions") is not None:
            found = _condition_match(status, rule["onPodConditions"])
            if found is None:
                continue
            message = (f"Pod {meta['namespace']}/{meta['name']} has condition {found} matching "
                       f"{action} rule at index {index}")
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action in ("Count", "FailIndex"):
            return None, True, action
        if action == "FailJob":
            return message, True, action
    return None, True, None


def _exit_code_match(status: Json, requirement: Json) -> Json | None:
    """The first terminated, non-zero container (then init container) status the
    requirement's operator matches."""
    for key in ("containerStatuses", "initContainerStatuses"):
        for cs in status.get(key) or []:
            term = (cs.get("state") or {}).get("terminated")
            if term is None or requirement.get("containerName") not in (None, cs.get("name")):
                continue
            code = term.get("exitCode")
            if code == 0:
                continue
            listed = code in (requirement.get("values") or [])
            if (requirement.get("operator") == "In" and listed) or \
                    (requirement.get("operator") == "NotIn" and not listed):
                return dict(cs)
    return None


def _condition_match(status: Json, patterns: list[Json]) -> str | None:
    for cond in status.get("conditions") or []:
        for pattern in patterns:
            if cond.get("type") == pattern.get("type") and \
                    cond.get("status") == pattern.get("status"):
                return str(cond.get("type"))
    return None


def only_replace_failed(job: Json) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podFailurePolicy") is not None or \
        spec.get("podReplacementPolicy") == "Failed"


def is_pod_failed(pod: Json, job: Json) -> bool:
    """``isPodFailed``: Failed, or (unless only failed pods are replaced) being deleted
    before it Succeeded ("Count deleted Pods as failures to account for orphan Pods that
    never have a chance to reach the Failed phase")."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"

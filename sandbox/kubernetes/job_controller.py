"""The Job controller over the sandbox's store: it runs a Job's pods and decides when the Job
has failed or completed.

The controller (pkg/controller/job/job_controller.go ``syncJob``,
``trackJobStatusAndRemoveFinalizers``, ``enactJobFinished``, ``syncOrphanPod``;
pod_failure_policy.go ``matchPodFailurePolicy``), for Jobs of one completion at a time:

- its pods carry the ``batch.kubernetes.io/job-tracking`` finalizer, so a deleted pod stays
  until the controller has counted it; the finalizer goes once the pod has finished (and been
  counted), the Job finished, or the Job is gone or being deleted (an orphan);
- a pod counts as failed when its phase is Failed or, unless only failed pods are replaced (a
  podFailurePolicy, or ``podReplacementPolicy: Failed``), when it is being deleted and has not
  Succeeded (``isPodFailed``); a pod being deleted is not active, and is only replaced then;
- a failed pod is matched against the policy's rules in order: FailJob fails the Job with the
  interim ``FailureTarget`` condition (reason ``PodFailurePolicy``, message "Pod NS/NAME has
  condition TYPE matching FailJob rule at index I" or "Container C for pod NS/NAME failed with
  exit code X matching FailJob rule at index I"), Ignore does not count the failure, Count (or
  no match) counts it; more counted failures than ``backoffLimit`` is ``FailureTarget`` with
  reason ``BackoffLimitExceeded``, and a Job active longer than ``activeDeadlineSeconds`` one
  with ``DeadlineExceeded``;
- a failing Job's active pods are deleted, and the ``Failed`` condition (the FailureTarget's
  reason and message) follows once none of its pods is terminating, with a Warning event of
  that reason (``recordJobFinished``).

The sandbox creates a failed pod's replacement at once (the real controller backs off 10 s,
doubling); Indexed Jobs, parallelism above 1 and ``FailIndex`` are not run.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import ApiError, now_rfc3339
from sandbox.kubernetes.jobs import (
    REASON_POLICY,
    TRACKING_FINALIZER,
    is_pod_failed,
    match_policy,
    only_replace_failed,
)
from sandbox.kubernetes.patch import clone

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers
    from sandbox.kubernetes.registry import ResourceType

Json = dict[str, Any]
_TERMINAL = ("Succeeded", "Failed")


def _finished(job: Json) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _ready(pod: Json) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _tracked(pod: Json) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


class JobController:
    """The Job controller over the sandbox's store (see the module docstring)."""

    def __init__(self, ctrl: Controllers):
        self.ctrl = ctrl
        self.api = ctrl.api
        self.store = ctrl.store

    def reconcile(self) -> None:
        prt = self.api.registry.by_gk("", "pods")
        assert prt is not None
        self._release_orphans(prt)
        for rt, job in self.ctrl._each("batch", "jobs"):
            if _finished(job) or (job.get("spec") or {}).get("suspend"):
                continue
            meta = job["metadata"]
            pods = [p for p in self.store.select(prt.gk, meta["namespace"])
                    if any(r.get("uid") == meta["uid"] and r.get("controller")
                           for r in p["metadata"].get("ownerReferences") or [])]
            self._sync(rt, prt, job, pods)

    def _release_orphans(self, prt: ResourceType) -> None:
        """``syncOrphanPod``: a tracked pod whose Job is gone, replaced, being deleted or
        finished loses the finalizer (the Job no longer counts it)."""
        for pod in self.store.select(prt.gk):
            if not _tracked(pod):
                continue
            meta = pod["metadata"]
            ref = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")),
                       None)
            if ref is not None and ref.get("kind") != "Job":
                continue
            job = self.store.get(("batch", "jobs"), meta["namespace"],
                                 str((ref or {}).get("name")))
            if job is None or ref is None or job["metadata"]["uid"] != ref.get("uid") or \
                    job["metadata"].get("deletionTimestamp") or _finished(job):
                self.api.remove_finalizer(prt, pod, TRACKING_FINALIZER, "job-controller")

    def _sync(self, rt: ResourceType, prt: ResourceType, job: Json, pods: list[Json]) -> None:
        status = clone(job.get("status") or {})
        spec = job.get("spec") or {}
        policy = spec.get("podFailurePolicy")
        tracked = [p for p in pods if _tracked(p)]
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in _TERMINAL
                  and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp")
                       and (p.get("status") or {}).get("phase") not in _TERMINAL]
        failed_now = [p for p in tracked if is_pod_failed(p, job)]
        succeeded_now = [p for p in tracked if (p.get("status") or {}).get("phase") == "Succeeded"]
        status["failed"] = int(status.get("failed") or 0) + sum(
            match_policy(policy, p)[1] for p in failed_now)
        status["succeeded"] = int(status.get("succeeded") or 0) + len(succeeded_now)
        status.setdefault("startTime", now_rfc3339())
        failure = self._failure(job, status, failed_now)
        done = list(failed_now) + succeeded_now
        if failure is not None:
            for pod in active:
                try:
                    self.api.delete(prt, pod["metadata"]["namespace"], pod["metadata"]["name"],
                                    {})
                except ApiError:
                    continue  # gone meanwhile (deleteActivePods ignores NotFound)
            terminating += active
            # Every pod not yet counted is counted failed once the Job fails.
            rest = [p for p in tracked if p not in done]
            status["failed"] += sum(match_policy(policy, p)[1] for p in rest)
            done = tracked
            active = []
        elif status["succeeded"] >= int(spec.get("completions") or 1) and not active:
            self._complete(status)
        elif not active and not (terminating and only_replace_failed(job)):
            self._create_pod(prt, job)
            active = [{}]
        self._write(rt, prt, job, status, failure, done, active, terminating)

    def _failure(self, job: Json, status: Json, failed_now: list[Json]) -> tuple[str, str] | None:
        """Why the Job fails: its FailureTarget already set, a FailJob rule, backoffLimit
        exceeded, or activeDeadlineSeconds past; None while it runs."""
        target = next((c for c in status.get("conditions") or []
                       if c.get("type") == "FailureTarget" and c.get("status") == "True"), None)
        if target is not None:
            return str(target.get("reason")), str(target.get("message"))
        spec = job.get("spec") or {}
        for pod in failed_now:
            message = match_policy(spec.get("podFailurePolicy"), pod)[0]
            if message is not None:
                return REASON_POLICY, message
        if status["failed"] > int(spec.get("backoffLimit", 6) or 0):
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = spec.get("activeDeadlineSeconds")
        started = dt.datetime.fromisoformat(str(status["startTime"]).replace("Z", "+00:00"))
        if deadline is not None and dt.datetime.now(dt.UTC) - started >= dt.timedelta(
                seconds=int(deadline)):
            return "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    @staticmethod
    def _complete(status: Json) -> None:
        from sandbox.kubernetes.controllers import set_condition

        conds = clone(status.get("conditions") or [])
        for ctype in ("SuccessCriteriaMet", "Complete"):
            set_condition(conds, ctype, "True", "CompletionsReached",
                          "Reached expected number of succeeded pods")
        status.update(conditions=conds, completionTime=now_rfc3339())

    def _write(self, rt: ResourceType, prt: ResourceType, job: Json, status: Json,
               failure: tuple[str, str] | None, done: list[Json], active: list[Json],
               terminating: list[Json]) -> None:
        """The status first (the FailureTarget and the counts), then the finalizers of the
        pods it counted; ``Failed`` once no pod is terminating."""
        from sandbox.kubernetes.controllers import set_condition

        status.update(active=len(active), ready=sum(_ready(p) for p in active),
                      terminating=len(terminating), uncountedTerminatedPods={})
        if failure is not None:
            conds = clone(status.get("conditions") or [])
            set_condition(conds, "FailureTarget", "True", *failure)
            if not terminating:
                set_condition(conds, "Failed", "True", *failure)
            status["conditions"] = conds
        if self.ctrl._status(rt, job, status, "job-controller") is None:
            return  # the Job changed meanwhile: the next round counts again
        for pod in done:
            try:
                self.api.remove_finalizer(prt, pod, TRACKING_FINALIZER, "job-controller")
            except ApiError:
                continue
        if failure is not None and not terminating:
            self.ctrl.workloads.event(job, "Warning", failure[0], failure[1], "job-controller")
        elif failure is None and status.get("completionTime") and not (
                job.get("status") or {}).get("completionTime"):
            self.ctrl.workloads.event(job, "Normal", "Completed", "Job completed",
                                      "job-controller")

    def _create_pod(self, prt: ResourceType, job: Json) -> None:
        self.ctrl._create_job_pod(prt, job)

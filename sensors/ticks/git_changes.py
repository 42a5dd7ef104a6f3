"""One tick of the git_changes sensor (``sensors/git_changes.py`` defines it): re-reconcile only
what a Git commit changed, applying the spec at that commit. Imported by the tick, not when the
code location loads.

Each tick fetches the branch into the resource's local mirror (one ``git fetch``), and when the
head moved, diffs the spec at the last *applied* commit against the spec at the head: changed spec
sections and files under a component's manifest directory select the assets to reconcile. The run
is tagged ``platform-ops/commit=<sha>`` and keyed by the SHA, so a commit is applied once and the
run's assets load the spec at that commit (``core.loading.graph_at_commit``).

The cursor is JSON: ``handled`` (the last head looked at), ``applied`` (the last commit whose spec
was valid and handed to a run), and ``pending`` (a head waiting for the code location to reload
after components were added). Work per tick is bounded by the two commits compared, never by the
length of the history.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.core.graph import Graph
from platform_assets.core.loading import graph_from_source
from platform_assets.names import (
    CODE_LOCATION,
    GIT_SENSOR,
    RECONCILE_GROUPS,
    RECONCILE_JOB,
    TAG_BASE_COMMIT,
    TAG_COMMIT,
    TAG_TRIGGER,
    scoped,
)
from platform_assets.spec.loader import SpecError
from resources.git import GitRepositoryResource, GitUnavailable

if TYPE_CHECKING:  # what a commit changed is worked out once the tick has a new head
    from platform_assets.core.gitchanges import SpecChange

RELOAD_WAIT_TICKS = 3


@dataclass
class GitCursor:
    handled: str | None = None
    applied: str | None = None
    pending: str | None = None
    pending_ticks: int = 0
    last_error: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> GitCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            # A bare SHA (an older cursor, or one set by hand in the UI) counts as applied.
            return cls(handled=text.strip(), applied=text.strip())
        if not isinstance(data, dict):
            return cls()
        def opt(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        ticks = data.get("pending_ticks")
        return cls(handled=opt("handled"), applied=opt("applied"), pending=opt("pending"),
                   pending_ticks=ticks if isinstance(ticks, int) else 0,
                   last_error=opt("last_error"))

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


def graph_at(git: GitRepositoryResource, sha: str, environment: str | None = None) -> Graph:
    """The asset graph of the spec at ``sha``, read from the commit's tree in memory.

    Raises:
        SpecError: the spec at ``sha`` is missing or invalid.
        GitUnavailable: the commit is not in the mirror.
    """
    return graph_from_source(git.tree(sha), git.spec_path, check_manifests=True,
                             environment=environment)


# The writable webserver's in-cluster address (its Service, not the OIDC-protected public URL
# and not the read-only webserver, which refuses mutations), e.g.
# http://dagster-webserver.dagster.svc.cluster.local:80 (the chart names the Service
# <release>-webserver when the release name contains "dagster"; deploy/helm/values.yaml).
RELOAD_URL_ENV = "DAGSTER_WEBSERVER_INTERNAL_URL"


def request_reload(location: str, timeout: int = 30) -> str:
    """Reload the code location through the webserver's GraphQL API
    (``DagsterGraphQLClient.reload_repository_location``) at ``$DAGSTER_WEBSERVER_INTERNAL_URL``;
    the outcome in words (never raises)."""
    from urllib.parse import urlsplit

    base = os.environ.get(RELOAD_URL_ENV)
    if not base:
        return (f"{RELOAD_URL_ENV} is not set: reload the code location from the UI "
                "(Deployment → Reload) or restart it")
    url = urlsplit(base)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"{RELOAD_URL_ENV}={base!r} is not an http(s) URL: no reload requested"
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    try:
        client = DagsterGraphQLClient(url.hostname, port_number=url.port,
                                      use_https=url.scheme == "https", timeout=timeout,
                                      path_prefix=url.path.rstrip("/"))
        info = client.reload_repository_location(location)
    except (DagsterGraphQLClientError, OSError) as exc:
        return f"reload of {location} through {base} failed: {exc}"
    status = getattr(info.status, "value", info.status)
    return f"reload of {location} through {base}: {status}" + (
        f" ({info.message})" if getattr(info, "message", None) else "")


def _known_keys(context: dg.SensorEvaluationContext) -> set[tuple[str, ...]] | None:
    repo = context.repository_def
    if repo is None:
        return None
    return {tuple(k.path) for k in repo.asset_graph.get_all_asset_keys()}


def _check_keys(context: dg.SensorEvaluationContext, change: SpecChange,
                graph: Graph) -> list[dg.AssetCheckKey] | None:
    """Checks of the changed assets and of reconciled assets downstream of them, if known."""
    repo = context.repository_def
    if repo is None:
        return None
    try:
        job = repo.get_job(scoped(RECONCILE_JOB, graph.environment))
        in_job = set(job.asset_layer.asset_graph.asset_check_keys)
    except Exception:  # noqa: BLE001 - no job or no checks: let Dagster pick the defaults
        return None
    wanted = {k for k in change.downstream if graph.nodes[k].group in RECONCILE_GROUPS}
    return sorted((ck for ck in in_job if tuple(ck.asset_key.path) in wanted),
                  key=lambda ck: ck.to_user_string())


def evaluate(context: dg.SensorEvaluationContext, git: GitRepositoryResource,
             environment: str | None = None) -> Any:
    """One tick of the git_changes sensor (see the module docstring); of one environment's
    sensor, when the spec has environments."""
    try:
        return _evaluate(context, git, environment)
    except GitUnavailable as exc:
        return dg.SkipReason(f"Git unreachable, nothing handled, cursor unchanged: {exc}")


def _evaluate(context: dg.SensorEvaluationContext, git: GitRepositoryResource,
              environment: str | None) -> Any:
    cur = GitCursor.parse(context.cursor)
    head = git.fetch()  # GitUnavailable: evaluate() skips with the cursor unchanged
    if cur.handled is None:
        return _first_tick(context, git, cur, head, environment)
    if head == cur.handled and cur.pending is None:
        return dg.SkipReason(f"no new commit on {git.branch} (head {head[:12]})")
    untrusted = git.untrusted_reason(head)
    if untrusted:
        return _refuse(context, cur, head, f"commit {head[:12]} is not trusted: {untrusted}",
                       "no run requested", f"not trusted: {untrusted}")
    rewritten = not git.is_ancestor(cur.handled, head)
    try:
        new_graph = graph_at(git, head, environment)
    except SpecError as exc:
        return _refuse(context, cur, head, f"commit {head[:12]} has an invalid spec",
                       f"no run requested (last applied: {(cur.applied or 'none')[:12]}); a "
                       f"later commit that fixes it proceeds. {exc}", str(exc))
    base, change = _compare(git, cur, head, new_graph)
    notes = [f"history rewritten ({cur.handled[:12]} is not an ancestor of {head[:12]}); "
             f"compared with the last applied spec {(base or 'none')[:12]}"] if rewritten else []
    if change.shape_changed:
        change, waiting = _await_reload(context, git, cur, head, change, notes)
        if waiting is not None:
            return waiting
    else:
        git.update_checkout(head)  # keep the code location's copy of the spec at the head
    return _request(context, git, cur, head, base, change, new_graph, notes)


def _first_tick(context: dg.SensorEvaluationContext, git: GitRepositoryResource,
                cur: GitCursor, head: str, environment: str | None) -> dg.SkipReason:
    """The head becomes the baseline later commits are compared with (when it is trusted and
    valid; otherwise the first later commit that is counts everything as changed)."""
    untrusted = git.untrusted_reason(head)
    if untrusted:
        cur.last_error = f"{head}: not trusted: {untrusted}"
    else:
        try:
            graph_at(git, head, environment)
            cur.applied = head
        except SpecError as exc:
            cur.last_error = f"{head}: {exc}"
    cur.handled = head
    context.update_cursor(cur.dump())
    return dg.SkipReason(f"first tick: starting from {head[:12]} on {git.branch}; commits "
                         "after it are reconciled as they land"
                         + (f" (the head is not trusted: {untrusted})" if untrusted else ""))


def _refuse(context: dg.SensorEvaluationContext, cur: GitCursor, head: str, what: str,
            rest: str, error: str) -> dg.SkipReason:
    """A head that must not be applied: handled (not retried every tick), never applied."""
    cur.handled, cur.pending, cur.pending_ticks = head, None, 0
    cur.last_error = f"{head}: {error}"
    context.update_cursor(cur.dump())
    context.log.error(f"{what}; no run requested:\n{error}")
    return dg.SkipReason(f"{what}, {rest}")


def _compare(git: GitRepositoryResource, cur: GitCursor, head: str,
             new_graph: Graph) -> tuple[str | None, SpecChange]:
    """The last applied commit still in the mirror (the base), and what changed since."""
    from platform_assets.core.gitchanges import diff_graphs

    base = cur.applied if cur.applied and git.has_commit(cur.applied) else None
    old_graph: Graph | None = None
    paths: list[str] = []
    if base:
        try:
            old_graph = graph_at(git, base, new_graph.environment)
        except SpecError:
            old_graph = None
        paths = git.changed_paths(base, head)
    return base, diff_graphs(old_graph, new_graph, paths, git.spec_path)


def _await_reload(context: dg.SensorEvaluationContext, git: GitRepositoryResource,
                  cur: GitCursor, head: str, change: SpecChange,
                  notes: list[str]) -> tuple[SpecChange, dg.SkipReason | None]:
    """Assets were added or removed: ask for a reload, and wait a few ticks for assets the code
    location does not have yet; then run those that exist."""
    known = _known_keys(context)
    missing = [k for k in change.selection if known is not None and k not in known]
    if cur.pending != head:
        checkout = git.update_checkout(head)
        location = (context.code_location_origin.location_name
                    if context.code_location_origin else CODE_LOCATION)
        notes.append(f"graph changed (+{len(change.added)} / -{len(change.removed)} assets)"
                     + (f"; checkout {checkout} now at {head[:12]}" if checkout else "")
                     + f"; {request_reload(location)}")
    if missing and cur.pending_ticks < RELOAD_WAIT_TICKS:
        cur.pending = head
        cur.pending_ticks += 1
        context.update_cursor(cur.dump())
        return change, dg.SkipReason(
            f"commit {head[:12]} adds assets the code location does not have yet "
            f"({', '.join('/'.join(k) for k in missing[:5])}); waiting for the reload "
            f"(tick {cur.pending_ticks}/{RELOAD_WAIT_TICKS}). " + "; ".join(notes))
    if missing:
        from platform_assets.core.gitchanges import SpecChange

        notes.append("reload did not happen in time; running the assets that exist")
        change = SpecChange(change.changed, change.added, change.removed, change.downstream,
                            frozenset(k for k in change.reconcile_keys if k not in missing))
    return change, None


def _request(context: dg.SensorEvaluationContext, git: GitRepositoryResource, cur: GitCursor,
             head: str, base: str | None, change: SpecChange, new_graph: Graph,
             notes: list[str]) -> dg.RunRequest | dg.SkipReason:
    """The head is applied: the cursor moves, and a run is requested for what changed."""
    cur.handled, cur.applied, cur.pending, cur.pending_ticks, cur.last_error = (
        head, head, None, 0, None)
    context.update_cursor(cur.dump())
    for note in notes:
        context.log.info(note)
    if not change.selection:
        return dg.SkipReason(f"commit {head[:12]} changes no reconciled asset"
                             + (f" ({'; '.join(notes)})" if notes else ""))
    tags = {TAG_COMMIT: head, TAG_TRIGGER: GIT_SENSOR}
    if base:
        tags[TAG_BASE_COMMIT] = base
    return dg.RunRequest(
        run_key=head,
        job_name=scoped(RECONCILE_JOB, new_graph.environment),
        asset_selection=[dg.AssetKey(list(k)) for k in change.selection],
        asset_check_keys=_check_keys(context, change, new_graph),
        tags=tags,
    )

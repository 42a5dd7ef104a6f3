"""The plan command's report: text, JSON for tools, markdown for pull requests, exit status."""

from __future__ import annotations

import json

from platform_assets.core.calendar import Gate
from platform_assets.core.diff import MISSING, FieldChange
from platform_assets.core.plan import Change, Plan, decide
from platform_assets.core.plan_report import (
    COMMENT_MARKER,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    PlanReport,
    render,
    render_markdown,
    to_json,
)

SHUT = Gate(False, "outside every maintenance window")


def _report() -> PlanReport:
    dc = Plan("ionos/datacenter", [Change("ionos/datacenter/prod", "create")])
    pool = Plan("ionos/node_pool/a", [decide(
        "ionos/node_pool/a", True, [FieldChange("k8sVersion", "1.31.1", "1.32.6")],
        disruptive=["k8sVersion"], gate=SHUT)], notes=["IONOS upgrades in its window"])
    lan = Plan("ionos/lan/x", [Change("ionos/lan/x", "no-op")])
    dep = Plan("applications/wp", [Change("apps/v1 Deployment wp/web", "update",
                                          (FieldChange("spec.replicas", 1, 2),
                                           FieldChange("spec.paused", MISSING, False)))])
    return PlanReport("prod", [dc, pool, lan, dep])


def test_json_is_valid_and_carries_every_change() -> None:
    data = json.loads(render(_report(), "json"))
    assert data["format_version"] == 1 and data["platform"] == "prod"
    assert data["status"] == "changes" and data["exit_code"] == EXIT_CHANGES
    assert data["totals"] == {"create": 1, "update": 1, "replace": 0, "delete": 0, "deferred": 1}
    by_asset = {a["asset"]: a for a in data["assets"]}
    assert by_asset["ionos/lan/x"]["changes"] == []  # no-ops only with --verbose
    assert by_asset["ionos/lan/x"]["counts"]["no-op"] == 1
    pool = by_asset["ionos/node_pool/a"]["changes"][0]
    assert pool["action"] == "deferred" and pool["intended"] == "update"
    assert pool["disruptive"] is True and "maintenance window" in pool["reason"]
    assert by_asset["ionos/node_pool/a"]["notes"] == ["IONOS upgrades in its window"]
    fields = by_asset["applications/wp"]["changes"][0]["fields"]
    # An absent side is left out, so null stays a value of its own.
    assert fields == [{"path": "spec.replicas", "observed": 1, "desired": 2},
                      {"path": "spec.paused", "desired": False}]
    verbose = to_json(_report(), verbose=True)
    lan = next(a for a in verbose["assets"] if a["asset"] == "ionos/lan/x")
    assert [c["action"] for c in lan["changes"]] == ["no-op"]


def test_no_changes_and_blocked_set_the_exit_status() -> None:
    clean = PlanReport("prod", [Plan("ionos/lan/x", [Change("ionos/lan/x", "no-op")])])
    assert clean.exit_code == EXIT_OK and to_json(clean)["status"] == "no-changes"
    assert "No changes. The platform matches the spec." in render(clean, "text")
    assert "**No changes.**" in render(clean, "markdown")
    blocked = decide("ionos/cluster/c", True, [FieldChange("location", "de/fra", "de/txl")],
                     immutable=["location"], what="cluster c")
    report = PlanReport("prod", [Plan("ionos/cluster", [blocked])])
    assert report.exit_code == EXIT_ERROR
    data = to_json(report)
    assert data["status"] == "blocked" and data["blocked"] == [blocked.blocked]
    assert f"BLOCKED: {blocked.blocked}" in render(report, "text")
    assert "[!CAUTION]" in render(report, "markdown") and blocked.blocked in render(report,
                                                                                    "markdown")


def test_text_reads_like_terraform_plan() -> None:
    text = render(_report(), "text")
    assert text.startswith("platform-ops plan for prod\n")
    assert "# ionos/datacenter: 1 to create\n    + ionos/datacenter/prod" in text
    assert "ionos/lan/x" not in text
    assert "  note: IONOS upgrades in its window" in text
    assert text.rstrip().endswith("Plan: 1 to create, 1 to update, 0 to replace, 0 to delete, "
                                  "1 deferred to a maintenance window.")


def test_markdown_is_a_pull_request_comment() -> None:
    md = render(_report(), "markdown")
    assert md.startswith(COMMENT_MARKER + "\n### platform-ops plan: `prod`")
    assert "<details><summary><code>applications/wp</code>: 1 to update</summary>" in md
    assert "| update | `apps/v1 Deployment wp/web` | spec.replicas: 1 -> 2" in md
    assert md.count("<details>") == md.count("</details>") == 3  # the no-op asset is left out


def test_markdown_stays_under_the_comment_limit() -> None:
    plans = [Plan(f"applications/app-{i}", [Change(f"v1 ConfigMap ns/cm-{i}-{j}", "create")
                                           for j in range(50)]) for i in range(200)]
    md = render_markdown(PlanReport("big", plans), limit=20_000)
    assert len(md) <= 20_000
    assert md.count("<details>") == md.count("</details>") > 0
    assert "more asset(s) left out" in md and "platform-ops plan" in md

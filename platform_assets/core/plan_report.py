"""The ``plan`` command's report over every asset, as text, JSON or markdown. Pure.

Text is what a terminal shows (``terraform plan``-like); JSON is for tools (its shape is
``REPORT_FORMAT_VERSION`` and documented in docs/reconcile.md); markdown is a pull-request
comment (GitHub caps a comment at 65,536 characters, so long plans are cut with a note).
The exit status is part of the report so every format agrees with it: 0 no changes,
2 changes, 1 a change the spec does not allow (applying would fail).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from platform_assets.core.diff import MISSING, FieldChange
from platform_assets.core.plan import Change, Plan, merge_plans

REPORT_FORMAT_VERSION = 1
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
COMMENT_MARKER = "<!-- platform-ops plan -->"
COMMENT_LIMIT = 65_536
Status = Literal["no-changes", "changes", "blocked"]
Format = Literal["text", "json", "markdown"]
FORMATS: tuple[Format, ...] = ("text", "json", "markdown")
_TOTALS = ("create", "update", "replace", "delete", "deferred")


@dataclass(frozen=True)
class PlanReport:
    """Every reconciled asset's plan, in reconcile order."""

    platform: str
    plans: Sequence[Plan]

    @property
    def blocked(self) -> list[Change]:
        """The blocked changes of every plan."""
        return [c for p in self.plans for c in p.blocked]

    @property
    def status(self) -> Status:
        """``blocked`` when a change is refused, ``changes`` when anything would be written, else
        ``no-changes``."""
        if self.blocked:
            return "blocked"
        return "changes" if any(p.has_changes for p in self.plans) else "no-changes"

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for the status (0 no changes, 2 changes, 1 blocked, as ``terraform
        plan -detailed-exitcode``)."""
        return {"no-changes": EXIT_OK, "changes": EXIT_CHANGES, "blocked": EXIT_ERROR}[
            self.status]

    def totals(self) -> dict[str, int]:
        """How many changes of each reported action, over all plans."""
        merged = merge_plans(self.plans)
        return {a: merged.get(a, 0) for a in _TOTALS}

    def totals_line(self) -> str:
        """The totals in the words of ``terraform plan``'s last line."""
        t = self.totals()
        return (f"{t['create']} to create, {t['update']} to update, {t['replace']} to replace, "
                f"{t['delete']} to delete, {t['deferred']} deferred to a maintenance window")


def render(report: PlanReport, fmt: Format, verbose: bool = False) -> str:
    """The report in one of ``FORMATS``."""
    renderers = {"text": render_text, "json": render_json, "markdown": render_markdown}
    return renderers[fmt](report, verbose)


def render_text(report: PlanReport, verbose: bool = False) -> str:
    """The report for a terminal: one block per asset, changes listed under it."""
    lines = [f"platform-ops plan for {report.platform}", ""]
    for plan in report.plans:
        if plan.has_changes or verbose:
            lines.append(f"# {plan.asset}: {plan.summary()}")
            body = plan.to_text(verbose=verbose)
            if body:
                lines.append(body)
            lines.extend(f"  note: {note}" for note in plan.notes)
            lines.append("")
    if report.status == "no-changes":
        lines.append("No changes. The platform matches the spec.")
        return "\n".join(lines) + "\n"
    lines.append(f"Plan: {report.totals_line()}.")
    lines.extend(f"BLOCKED: {c.blocked}" for c in report.blocked)
    return "\n".join(lines) + "\n"


def _value(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _field(f: FieldChange) -> dict[str, Any]:
    # An absent side is left out rather than written as null, which is a value of its own.
    out: dict[str, Any] = {"path": f.path}
    if f.observed is not MISSING:
        out["observed"] = _value(f.observed)
    if f.desired is not MISSING:
        out["desired"] = _value(f.desired)
    if f.changed_by:
        out["changed_by"] = f.changed_by
    return out


def _change(c: Change) -> dict[str, Any]:
    return {"address": c.address, "action": c.action, "intended": c.intended,
            "reason": c.reason, "blocked": c.blocked or None, "disruptive": c.disruptive,
            "drift": c.drift, "fields": [_field(f) for f in c.fields]}


def to_json(report: PlanReport, verbose: bool = False) -> dict[str, Any]:
    """The report as JSON data (see docs/reconcile.md for every key)."""
    assets = []
    for plan in report.plans:
        changes = [c for c in plan.changes if verbose or c.action != "no-op"]
        assets.append({"asset": plan.asset, "summary": plan.summary(), "counts": plan.counts(),
                       "changes": [_change(c) for c in changes], "notes": list(plan.notes)})
    return {"format_version": REPORT_FORMAT_VERSION, "platform": report.platform,
            "status": report.status, "exit_code": report.exit_code, "totals": report.totals(),
            "blocked": [c.blocked for c in report.blocked], "assets": assets}


def render_json(report: PlanReport, verbose: bool = False) -> str:
    """The report as JSON for tools (``to_json`` gives the shape)."""
    return json.dumps(to_json(report, verbose), indent=2, sort_keys=False) + "\n"


def render_markdown(report: PlanReport, verbose: bool = False,
                    limit: int = COMMENT_LIMIT) -> str:
    """A pull-request comment: a headline, blocked changes first, one collapsed table per asset.

    ``COMMENT_MARKER`` opens it so a CI job can find and update its earlier comment.
    """
    head = [COMMENT_MARKER, f"### platform-ops plan: `{report.platform}`", ""]
    if report.status == "no-changes":
        head.append("**No changes.** The platform matches the spec.")
        return "\n".join(head) + "\n"
    head.append(f"**Plan:** {report.totals_line()}.")
    if report.blocked:
        head += ["", f"> [!CAUTION]\n> {len(report.blocked)} change(s) need a replace the spec "
                 "does not allow; applying this plan would fail:"]
        head += [f"> - {c.blocked}" for c in report.blocked]
    sections: list[str] = []
    for plan in report.plans:
        if not (plan.has_changes or verbose):
            continue
        shown = plan if verbose else Plan(plan.asset, [c for c in plan.changes
                                                       if c.action != "no-op"])
        body = [f"<details><summary><code>{plan.asset}</code>: {plan.summary()}</summary>", "",
                shown.to_markdown(), ""]
        body += [f"- note: {note}" for note in plan.notes]
        body.append("</details>")
        sections.append("\n".join(body))
    out = "\n".join(head) + "\n\n"
    for i, section in enumerate(sections):
        cut = (f"\n_… {len(sections) - i} more asset(s) left out: the comment limit is "
               f"{limit} characters; run `platform-ops plan` for all of it._\n")
        if len(out) + len(section) + 2 + len(cut) > limit:
            return out + cut
        out += section + "\n\n"
    return out

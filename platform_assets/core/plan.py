"""Plans: what a reconcile would do to each resource, and why. Pure.

A ``Change`` is one resource's action (create, update, replace, delete, no-op, deferred) with
its field-level differences; a ``Plan`` is one asset's changes. ``decide`` turns a diff into an
action, applying the rules every resource kind shares: immutable fields force a replace (which
only an ``allow_replace`` spec may do), disruptive changes wait for a maintenance window unless
forced, and drift modes limit what a reconcile may write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from platform_assets.core.calendar import Gate
from platform_assets.core.diff import FieldChange, render, touches
from platform_assets.core.redact import redact_change

Action = Literal["create", "update", "replace", "delete", "no-op", "deferred"]
WRITE_ACTIONS = frozenset({"create", "update", "replace", "delete"})
SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " ",
          "deferred": "…"}


@dataclass(frozen=True)
class Change:
    """What a reconcile does (or would do) to one resource."""

    address: str
    action: Action
    fields: tuple[FieldChange, ...] = ()
    disruptive: bool = False
    reason: str = ""
    intended: Action | None = None  # for "deferred": what will happen once allowed
    blocked: str = ""  # a replace the spec does not allow: the message the asset fails with
    drift: bool = False  # the difference comes from outside changes, not from the spec

    @property
    def writes(self) -> bool:
        """Whether carrying out this change writes to a server (a create, update, replace or delete
        that is not blocked)."""
        return self.action in WRITE_ACTIONS and not self.blocked


@dataclass
class Plan:
    """The changes of one asset."""

    asset: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, change: Change) -> Change:
        """Append ``change`` to the plan and return it."""
        self.changes.append(change)
        return change

    @property
    def has_changes(self) -> bool:
        """Whether anything differs from the spec, deferred or blocked changes included."""
        return any(c.action != "no-op" for c in self.changes)

    @property
    def writes(self) -> list[Change]:
        """The changes that write something."""
        return [c for c in self.changes if c.writes]

    @property
    def blocked(self) -> list[Change]:
        """The changes that are blocked."""
        return [c for c in self.changes if c.blocked]

    def counts(self) -> dict[str, int]:
        """How many changes of each action, every action present (zero-filled)."""
        n = Counter(c.action for c in self.changes)
        return {a: n.get(a, 0) for a in ("create", "update", "replace", "delete", "no-op",
                                         "deferred")}

    def summary(self) -> str:
        """``2 to create, 1 to update`` or ``no changes``, for logs and metadata."""
        c = self.counts()
        parts = [f"{c[a]} to {a}" for a in ("create", "update", "replace", "delete") if c[a]]
        if c["deferred"]:
            parts.append(f"{c['deferred']} deferred")
        return ", ".join(parts) if parts else "no changes"

    def to_markdown(self, max_rows: int = 200) -> str:
        """The plan as a markdown table (for materialization metadata)."""
        rows = ["| action | resource | changes | note |", "|---|---|---|---|"]
        shown = sorted(self.changes, key=lambda c: (c.action == "no-op", c.address))
        for c in shown[:max_rows]:
            fields = "<br>".join(_cell(str(f)) for f in c.fields[:8])
            if len(c.fields) > 8:
                fields += f"<br>… {len(c.fields) - 8} more"
            action = c.action + (f" ({c.intended})" if c.intended else "")
            note = c.blocked or c.reason
            rows.append(f"| {action} | `{_cell(c.address)}` | {fields} | {_cell(note)} |")
        if len(shown) > max_rows:
            rows.append(f"| … | {len(shown) - max_rows} more | | |")
        return "\n".join(rows)

    def to_text(self, verbose: bool = False) -> str:
        """The plan the way ``terraform plan`` prints it."""
        lines: list[str] = []
        for c in sorted(self.changes, key=lambda c: c.address):
            if c.action == "no-op" and not verbose:
                continue
            head = f"  {SYMBOL[c.action]:>3} {c.address}"
            if c.action == "deferred":
                head += f"  (deferred {c.intended}: {c.reason})"
            elif c.blocked:
                head += f"  (BLOCKED: {c.blocked})"
            elif c.reason:
                head += f"  ({c.reason})"
            lines.append(head)
            for f in c.fields:
                lines.append(f"        {f.path}: {render(f.observed)} => {render(f.desired)}")
        return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def decide(
    address: str,
    exists: bool,
    fields: Iterable[FieldChange],
    *,
    immutable: Iterable[str] = (),
    disruptive: Iterable[str] = (),
    allow_replace: bool = False,
    gate: Gate = Gate(True, ""),
    drift: bool = False,
    mode: str = "enforce",
    what: str = "",
) -> Change:
    """The action for one resource.

    Args:
        address: the resource's name in the plan, e.g. ``ionos/node_pool/pool-a``.
        exists: whether it was observed.
        fields: its field differences (ignored when it does not exist).
        immutable: field paths whose change (at or below them) needs a replace; the reason
            names these, not the leaves that changed.
        disruptive: field paths whose change is disruptive (e.g. ``k8sVersion``).
        allow_replace: whether the spec allows replacing this resource.
        gate: whether disruptive changes may run now.
        drift: True when the differences come from outside changes rather than the spec.
        mode: the asset's drift mode (enforce, warn, observe).
        what: a human name used in messages, e.g. ``node pool pool-a``.
    """
    what = what or address
    fields = tuple(redact_change(f) for f in fields)
    if mode == "observe":
        action: Action = "no-op" if exists and not fields else (
            "create" if not exists else "update")
        return Change(address, "no-op", fields, reason=(
            f"drift mode observe: would {action}, never writes" if action != "no-op" else ""),
            drift=drift and bool(fields))
    if not exists:
        return Change(address, "create", ())
    if not fields:
        return Change(address, "no-op")
    if drift and mode == "warn":
        return Change(address, "no-op", fields, reason="drift mode warn: reported, not corrected",
                      drift=True)
    immutable = tuple(immutable)
    if touches(fields, immutable):
        # The field as the spec's table names it (``spec.selector``), not each leaf below it.
        names = ", ".join(sorted({p for p in immutable if touches(fields, [p])}))
        change = Change(address, "replace", fields, disruptive=True, drift=drift,
                        reason=f"immutable: {names}")
        if not allow_replace:
            return replace(change, blocked=(
                f"{what}: changing {names} needs a replace (delete and re-create), which the spec "
                "does not allow; set allow_replace: true on it, or revert the change"))
        return _gated(change, gate)
    risky = touches(fields, disruptive)
    change = Change(address, "update", fields, disruptive=bool(risky), drift=drift,
                    reason=("disruptive: " + ", ".join(sorted({f.path for f in risky})))
                    if risky else ("drift" if drift else ""))
    return _gated(change, gate) if risky else change


def delete_change(address: str, gate: Gate, reason: str = "no longer in the spec",
                  mode: str = "enforce") -> Change:
    """Deleting (pruning) a resource: always disruptive, so gated by the calendar."""
    if mode == "observe":
        return Change(address, "no-op", reason=f"drift mode observe: would delete ({reason})")
    return _gated(Change(address, "delete", disruptive=True, reason=reason), gate)


def _gated(change: Change, gate: Gate) -> Change:
    if gate.allowed:
        return change
    return replace(change, action="deferred", intended=change.action,
                   reason=f"{change.reason + '; ' if change.reason else ''}{gate.reason}")


def merge_plans(plans: Iterable[Plan]) -> dict[str, int]:
    """Action counts summed over several plans."""
    total: Counter[str] = Counter()
    for p in plans:
        total.update(p.counts())
    return dict(total)

"""Which chunks of a file-level volume target to delete once retention has removed the nights
that named them. Pure: no Dagster, no SDKs.

Chunks are shared between nights (``core.volume_index``), so retention deletes a night's index
and manifest but never its chunks; this decides which chunks nothing retained names any more.
As restic's ``prune`` and kopia's maintenance do, it never deletes a chunk a retained night
names, and it waits before deleting so a backup running at the same time cannot lose a chunk
it has just reused. The wait is two-phase, like kopia's (unreferenced contents are first
marked deleted, and their blobs removed only after a safety margin, ``BlobDeleteMinAge``
24h): a chunk that is unreferenced and older than the grace period is *condemned* (recorded
with the time, in ``gc/condemned.json`` under the target); only a chunk condemned at least a
grace period ago, still unreferenced and not written again since, is deleted. The volume agent
treats a condemned chunk as absent and uploads it again when a night needs its content, which
makes it young and un-condemns it (kopia's writers likewise rewrite a content marked deleted).
A night that reused a chunk before it was condemned has finished (manifest written) within the
grace period, which is longer than any attempt may run, so its manifest protects the chunk at
the sweep. Chunks younger than the grace period are never condemned: an attempt in progress
uploads chunks before it writes the index that names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

GC_DIR = "gc"
CONDEMNED_NAME = "condemned.json"
GC_VERSION = 1
MIN_GRACE = timedelta(hours=24)


class GcStateError(ValueError):
    """A condemned list that cannot be read: names where and what."""


def condemned_key(prefix: str, target: str) -> str:
    """``<prefix>/<target>/gc/condemned.json``: beside the target's chunks, in no partition."""
    base = prefix.strip("/")
    return f"{base}/{target}/{GC_DIR}/{CONDEMNED_NAME}" if base else \
        f"{target}/{GC_DIR}/{CONDEMNED_NAME}"


def grace_period(agent_timeout: timedelta) -> timedelta:
    """Longer than any attempt may run (twice the agent's timeout), and at least kopia's
    default safety margin of 24h."""
    return max(MIN_GRACE, 2 * agent_timeout)


@dataclass(frozen=True)
class GcPlan:
    """What one pass decides: chunk keys to delete now, and the condemned list to keep."""

    delete: tuple[str, ...]
    condemned: dict[str, datetime] = field(default_factory=dict)
    referenced: int = 0
    young: int = 0

    def to_json(self) -> bytes:
        return condemned_json(self.condemned)


def plan_chunk_gc(stored: dict[str, datetime], referenced: set[str],
                  condemned: dict[str, datetime], now: datetime,
                  grace: timedelta) -> GcPlan:
    """Decide from the chunks in the bucket (key → last modified), the chunk keys retained
    manifests name, and the condemned list of the previous pass (key → when condemned)."""
    delete: list[str] = []
    keep: dict[str, datetime] = {}
    young = named = 0
    for key, modified in sorted(stored.items()):
        if key in referenced:
            named += 1
        elif now - modified < grace:
            young += 1  # an attempt in progress may be about to name it
        elif key not in condemned or modified >= condemned[key]:
            keep[key] = now  # newly unreferenced, or written again since it was condemned
        elif now - condemned[key] >= grace:
            delete.append(key)
        else:
            keep[key] = condemned[key]
    return GcPlan(tuple(delete), keep, named, young)


def condemned_json(condemned: dict[str, datetime]) -> bytes:
    return json.dumps({"version": GC_VERSION,
                       "condemned": {k: v.isoformat() for k, v in sorted(condemned.items())}},
                      separators=(",", ":")).encode()


def parse_condemned(raw: bytes, where: str) -> dict[str, datetime]:
    """The condemned list read back (key → aware datetime); ``GcStateError`` otherwise."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise GcStateError(f"{where}: not JSON ({exc})") from None
    items = doc.get("condemned") if isinstance(doc, dict) else None
    if not isinstance(items, dict) or doc.get("version") != GC_VERSION:
        raise GcStateError(f"{where}: not a condemned list of version {GC_VERSION}")
    out: dict[str, datetime] = {}
    for key, when in items.items():
        try:
            parsed = datetime.fromisoformat(str(when))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise GcStateError(f"{where}: condemned.{key}: an ISO time with a zone expected")
        out[str(key)] = parsed
    return out

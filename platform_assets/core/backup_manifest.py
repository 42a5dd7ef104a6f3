"""The backup manifest and where backup objects live in the bucket. Pure: no Dagster, no SDKs.

Layout of one target's partition (one day, UTC) under the spec's ``backups.prefix``::

    <prefix>/<target>/<partition>/<attempt>/<object name>   data objects of one attempt
    <prefix>/<target>/<partition>/manifest.json             written last, names the attempt

A partition is a restore point only when its manifest exists: the manifest is written after
every object of the attempt has been uploaded and re-read, so objects of an attempt that failed
half-way are never referenced and never taken as good (the next attempt removes them). A
partition that has a manifest is not backed up again, so nothing backed up is overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_PARTITION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ATTEMPT_RE = re.compile(r"^[0-9A-Za-z][-0-9A-Za-z_.]{0,63}$")


class ManifestError(ValueError):
    """A manifest that cannot be read: names the key and the field."""


def check_partition(partition: str) -> str:
    """Return ``partition`` if it is a ``YYYY-MM-DD`` day, else raise ``ValueError``."""
    if not _PARTITION_RE.match(partition):
        raise ValueError(f"partition {partition!r} is not a day (expected YYYY-MM-DD)")
    date.fromisoformat(partition)
    return partition


def target_prefix(prefix: str, target: str) -> str:
    """``<prefix>/<target>/``: every partition of a target."""
    return f"{prefix.strip('/')}/{target}/" if prefix.strip("/") else f"{target}/"


def partition_prefix(prefix: str, target: str, partition: str) -> str:
    """``<prefix>/<target>/<partition>/``: everything of one day of one target."""
    return f"{target_prefix(prefix, target)}{check_partition(partition)}/"


def manifest_key(prefix: str, target: str, partition: str) -> str:
    """The object key of a partition's manifest: written last, so its presence marks the partition
    complete."""
    return partition_prefix(prefix, target, partition) + MANIFEST_NAME


def object_key(prefix: str, target: str, partition: str, attempt: str, name: str) -> str:
    """Key of one data object of an attempt."""
    if not _ATTEMPT_RE.match(attempt):
        raise ValueError(f"attempt id {attempt!r} must be letters, digits, '-', '_' or '.'")
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"object name {name!r} must be a relative path without '..'")
    return f"{partition_prefix(prefix, target, partition)}{attempt}/{name}"


def partition_of_key(prefix: str, target: str, key: str) -> str | None:
    """The partition a key of ``target`` belongs to, or None for a key outside the layout."""
    base = target_prefix(prefix, target)
    if not key.startswith(base):
        return None
    head = key[len(base):].split("/", 1)[0]
    return head if _PARTITION_RE.match(head) else None


def snapshot_name(target: str, partition: str) -> str:
    """Name of the IONOS or CSI snapshot of a volume target for one day (idempotency key)."""
    return f"platform-ops-{target}-{check_partition(partition)}"


def partition_of_snapshot(target: str, name: str) -> str | None:
    """The partition a snapshot named ``platform-ops-<target>-<partition>`` belongs to, or None for
    a snapshot this target did not take."""
    head = f"platform-ops-{target}-"
    if not name.startswith(head):
        return None
    rest = name[len(head):]
    return rest if _PARTITION_RE.match(rest) else None


@dataclass(frozen=True)
class ManifestObject:
    """One object of a backup: where it is, how big, its checksum and what it came from."""

    key: str
    size: int
    sha256: str
    source: str
    content_type: str = "application/octet-stream"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What one partition of one target holds. Serialised as JSON, written last."""

    target: str
    kind: str
    partition: str
    attempt: str
    bucket: str
    started_at: str
    finished_at: str
    objects: tuple[ManifestObject, ...] = ()
    tool_versions: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    version: int = MANIFEST_VERSION

    @property
    def total_bytes(self) -> int:
        """The bytes of all the manifest's objects."""
        return sum(o.size for o in self.objects)

    @property
    def finished(self) -> datetime:
        """When the backup finished, as a datetime."""
        return parse_time(self.finished_at)

    def to_json(self) -> bytes:
        """The manifest as stored in the bucket: sorted keys, so the same backup always gives the
        same bytes."""
        data = asdict(self)
        data["objects"] = [asdict(o) for o in self.objects]
        return json.dumps(data, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str, where: str = "manifest") -> Manifest:
        """Parse a manifest; raise ``ManifestError`` naming ``where`` and the bad field."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{where}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        if data.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"{where}: field 'version' is {data.get('version')!r}, expected "
                                f"{MANIFEST_VERSION}")
        for name in ("target", "kind", "partition", "attempt", "bucket", "started_at",
                     "finished_at"):
            if not isinstance(data.get(name), str):
                raise ManifestError(f"{where}: field {name!r} missing or not a string")
        objects = []
        for i, o in enumerate(data.get("objects") or []):
            try:
                objects.append(ManifestObject(
                    key=str(o["key"]), size=int(o["size"]), sha256=str(o["sha256"]),
                    source=str(o.get("source", "")),
                    content_type=str(o.get("content_type", "application/octet-stream")),
                    details=dict(o.get("details") or {}),
                ))
            except (KeyError, TypeError, ValueError) as exc:
                raise ManifestError(f"{where}: objects[{i}] is invalid ({exc!r})") from None
        try:
            parse_time(data["finished_at"])
            check_partition(data["partition"])
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        return cls(
            target=data["target"], kind=data["kind"], partition=data["partition"],
            attempt=data["attempt"], bucket=data["bucket"], started_at=data["started_at"],
            finished_at=data["finished_at"], objects=tuple(objects),
            tool_versions=dict(data.get("tool_versions") or {}),
            details=dict(data.get("details") or {}),
        )


def utc_iso(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z``; refuses naive times, which would be read in the
    local zone."""
    if moment.tzinfo is None:
        raise ValueError("times in manifests must carry a timezone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time from a manifest; a time without a zone is refused (ValueError), never
    guessed."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return moment


@dataclass(frozen=True)
class ObjectCheck:
    """Whether one backup object read back as recorded (size and sha256), and what was wrong if
    not."""
    key: str
    ok: bool
    problem: str = ""


def compare_object(expected: ManifestObject, size: int | None, sha256: str | None) -> ObjectCheck:
    """Compare what was read back (None: missing) with the manifest's record of an object."""
    if size is None or sha256 is None:
        return ObjectCheck(expected.key, False, "missing")
    if size != expected.size:
        return ObjectCheck(expected.key, False, f"size {size} != manifest {expected.size}")
    if sha256 != expected.sha256:
        return ObjectCheck(expected.key, False,
                           f"sha256 {sha256[:12]}… != manifest {expected.sha256[:12]}…")
    return ObjectCheck(expected.key, True)


def stale_keys(keys: list[str], manifest: Manifest | None, prefix: str, target: str,
               partition: str) -> list[str]:
    """Keys under a partition that its manifest does not reference (left by failed attempts).

    Without a manifest every data key of the partition is stale.
    """
    base = partition_prefix(prefix, target, partition)
    referenced = {o.key for o in manifest.objects} if manifest else set()
    mkey = base + MANIFEST_NAME
    return [k for k in keys if k.startswith(base) and k != mkey and k not in referenced]


def compare_tables(recorded: dict[str, dict[str, Any]],
                   restored: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between table stats (``{"table": {"rows": n, "checksum": c}}``) at dump time
    and after a restore; empty when they agree."""
    problems = []
    for table in sorted(set(recorded) | set(restored)):
        a, b = recorded.get(table), restored.get(table)
        if a is None:
            problems.append(f"{table}: restored but not in the dump record")
        elif b is None:
            problems.append(f"{table}: missing after restore")
        else:
            for stat in ("rows", "checksum"):
                if a.get(stat) != b.get(stat):
                    problems.append(f"{table}: {stat} {b.get(stat)} != {a.get(stat)} at dump time")
    return problems


@dataclass(frozen=True)
class BackupRecord:
    """What the backup run itself recorded about the objects it wrote (in Dagster's event log,
    outside the bucket): the attempt and each object's size and sha256.

    The manifest lives in the same bucket as the objects, so whoever can write one can write
    the other; a drill trusts an object only when it matches this record."""

    attempt: str
    objects: dict[str, tuple[int, str]]

    @classmethod
    def of(cls, manifest: Manifest) -> BackupRecord:
        """The record of a manifest this very run wrote."""
        return cls(manifest.attempt, {o.key: (o.size, o.sha256) for o in manifest.objects})

    def to_dict(self) -> dict[str, Any]:
        """JSON for the materialization's metadata."""
        return {"attempt": self.attempt,
                "objects": {k: {"size": s, "sha256": h} for k, (s, h) in self.objects.items()}}

    @classmethod
    def from_dict(cls, data: object) -> BackupRecord | None:
        """Parse ``to_dict``'s JSON; None when it is not one (an older run recorded none)."""
        if not isinstance(data, dict) or not isinstance(data.get("attempt"), str):
            return None
        objects = data.get("objects")
        if not isinstance(objects, dict):
            return None
        out: dict[str, tuple[int, str]] = {}
        for key, o in objects.items():
            if not (isinstance(o, dict) and isinstance(o.get("size"), int)
                    and isinstance(o.get("sha256"), str)):
                return None
            out[str(key)] = (o["size"], o["sha256"])
        return cls(data["attempt"], out)

    def check_manifest(self, manifest: Manifest, where: str) -> list[str]:
        """Where ``manifest`` (read from the bucket at ``where``) disagrees with this record,
        each problem naming the object; empty when they agree."""
        if manifest.attempt != self.attempt:
            return [f"{where}: the manifest names attempt {manifest.attempt!r}, the backup run "
                    f"recorded attempt {self.attempt!r} (manifest replaced in the bucket?)"]
        problems = []
        listed = {o.key: o for o in manifest.objects}
        for key in sorted(set(listed) | set(self.objects)):
            if key not in self.objects:
                problems.append(f"{key}: in the manifest but never written by the backup run")
            elif key not in listed:
                problems.append(f"{key}: written by the backup run but not in the manifest")
            else:
                problems += self.check_object(key, listed[key].size, listed[key].sha256,
                                              "the manifest")
        return problems

    def check_object(self, key: str, size: int | None, sha256: str | None,
                     what: str = "the bucket") -> list[str]:
        """A problem naming ``key`` when ``size``/``sha256`` (from ``what``; None: missing) are
        not what the backup run recorded."""
        if key not in self.objects:
            return [f"{key}: never written by the backup run"]
        want_size, want_sha = self.objects[key]
        if size is None or sha256 is None:
            return [f"{key}: missing from {what}"]
        if (size, sha256) != (want_size, want_sha):
            return [f"{key}: {what} has {size} bytes, sha256 {sha256[:12]}…; the backup run "
                    f"recorded {want_size} bytes, sha256 {want_sha[:12]}… (tampered or "
                    "replaced)"]
        return []

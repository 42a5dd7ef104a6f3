"""Backup manifest model, object layout per target and partition, and comparisons (pure core)."""

from __future__ import annotations

import pytest

from platform_assets.core.backup_manifest import (
    BackupRecord,
    Manifest,
    ManifestError,
    ManifestObject,
    compare_object,
    compare_tables,
    manifest_key,
    object_key,
    partition_of_key,
    partition_of_snapshot,
    snapshot_name,
    stale_keys,
)


def sample() -> Manifest:
    key = object_key("backups", "db", "2026-11-02", "a1", "shop.sql.gz")
    return Manifest(
        target="db", kind="database", partition="2026-11-02", attempt="a1", bucket="b",
        started_at="2026-11-02T02:00:00Z", finished_at="2026-11-02T02:01:00Z",
        objects=(ManifestObject(key, 10, "ab" * 32, "mariadb-dump shop",
                                details={"tables": {"t": {"rows": 1, "checksum": 5}}}),),
        tool_versions={"mariadb-dump": "10.11"},
    )


def test_layout() -> None:
    assert manifest_key("backups", "db", "2026-11-02") == "backups/db/2026-11-02/manifest.json"
    assert object_key("backups/", "db", "2026-11-02", "a1", "x/y.yaml") == \
        "backups/db/2026-11-02/a1/x/y.yaml"
    assert partition_of_key("backups", "db", "backups/db/2026-11-02/a1/x") == "2026-11-02"
    assert partition_of_key("backups", "db", "backups/dbx/2026-11-02/a1/x") is None
    assert partition_of_key("backups", "db", "backups/db/latest/x") is None
    assert snapshot_name("vol", "2026-11-02") == "platform-ops-vol-2026-11-02"
    assert partition_of_snapshot("vol", "platform-ops-vol-2026-11-02") == "2026-11-02"
    assert partition_of_snapshot("vol", "platform-ops-vol2-2026-11-02") is None


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-1-1", "../x"])
def test_bad_partition(bad: str) -> None:
    with pytest.raises(ValueError):
        manifest_key("backups", "db", bad)


def test_bad_object_names() -> None:
    with pytest.raises(ValueError, match="relative path"):
        object_key("b", "t", "2026-11-02", "a1", "../escape")
    with pytest.raises(ValueError, match="attempt id"):
        object_key("b", "t", "2026-11-02", "a/1", "x")


def test_round_trip_and_totals() -> None:
    m = sample()
    again = Manifest.from_json(m.to_json())
    assert again == m
    assert again.total_bytes == 10
    assert again.finished.hour == 2


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"version": 9}', "'version'"),
        (b'{"version": 1, "target": "t"}', "'kind'"),
    ],
)
def test_bad_manifests_name_the_key_and_field(raw: bytes, match: str) -> None:
    with pytest.raises(ManifestError, match=match) as info:
        Manifest.from_json(raw, where="s3://b/k")
    assert "s3://b/k" in str(info.value)


def test_bad_object_entry() -> None:
    data = sample().to_json().replace(b'"size": 10', b'"size": "ten"')
    with pytest.raises(ManifestError, match=r"objects\[0\]"):
        Manifest.from_json(data)


def test_compare_object() -> None:
    o = sample().objects[0]
    assert compare_object(o, 10, "ab" * 32).ok
    assert compare_object(o, None, None).problem == "missing"
    assert "size" in compare_object(o, 11, "ab" * 32).problem
    assert "sha256" in compare_object(o, 10, "cd" * 32).problem


def test_stale_keys_are_those_no_manifest_references() -> None:
    m = sample()
    keys = [m.objects[0].key, "backups/db/2026-11-02/manifest.json",
            "backups/db/2026-11-02/old/shop.sql.gz", "backups/db/2026-11-03/a/x"]
    assert stale_keys(keys, m, "backups", "db", "2026-11-02") == \
        ["backups/db/2026-11-02/old/shop.sql.gz"]
    assert len(stale_keys(keys, None, "backups", "db", "2026-11-02")) == 2


def test_compare_tables() -> None:
    rec = {"a": {"rows": 1, "checksum": 2}, "b": {"rows": 3, "checksum": 4}}
    assert compare_tables(rec, dict(rec)) == []
    problems = compare_tables(rec, {"a": {"rows": 1, "checksum": 9}, "c": {}})
    assert problems == ["a: checksum 9 != 2 at dump time", "b: missing after restore",
                        "c: restored but not in the dump record"]


def test_backup_record_round_trip_and_what_it_catches() -> None:
    import dataclasses

    m = sample()
    record = BackupRecord.of(m)
    assert BackupRecord.from_dict(record.to_dict()) == record
    assert BackupRecord.from_dict({"attempt": "a1"}) is None
    assert BackupRecord.from_dict({"attempt": "a1", "objects": {"k": {"size": "1"}}}) is None
    assert BackupRecord.from_dict(None) is None
    key = m.objects[0].key
    assert record.check_manifest(m, "s3://b/m.json") == []
    # A planted object with a manifest that matches it: the record still has the old digest.
    planted = dataclasses.replace(m, objects=(dataclasses.replace(
        m.objects[0], size=11, sha256="cd" * 32),))
    problems = record.check_manifest(planted, "s3://b/m.json")
    assert len(problems) == 1 and problems[0].startswith(f"{key}: the manifest has 11 bytes")
    assert "tampered" in problems[0]
    assert "attempt 'zz'" in record.check_manifest(
        dataclasses.replace(m, attempt="zz"), "s3://b/m.json")[0]
    extra = dataclasses.replace(m, objects=(*m.objects, dataclasses.replace(
        m.objects[0], key="backups/db/2026-11-02/a1/other.sql.gz")))
    assert record.check_manifest(extra, "w") == [
        "backups/db/2026-11-02/a1/other.sql.gz: in the manifest but never written by the "
        "backup run"]
    assert record.check_manifest(dataclasses.replace(m, objects=()), "w") == [
        f"{key}: written by the backup run but not in the manifest"]
    assert record.check_object(key, 10, "ab" * 32) == []
    assert record.check_object(key, None, None) == [f"{key}: missing from the bucket"]
    assert "recorded 10 bytes" in record.check_object(key, 10, "00" * 32)[0]

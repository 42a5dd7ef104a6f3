"""File-level volume backups without a cluster: chunking, dedup across nights, the parent
snapshot, the restore's checks (corrupted chunk, hostile index) over an in-memory bucket."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from platform_assets.backups.streams import AES_GCM_STREAM, ZSTD, Encoding, key_id
from platform_assets.backups.volume_files import (
    Codec,
    Location,
    VolumeBackupError,
    backup_tree,
    read_index,
    restore_tree,
)
from platform_assets.core.volume_index import (
    IndexError_,
    VolumeIndex,
    chunk_key,
    compare_files,
    file_list_json,
    is_chunk_key,
    parse_file_list,
    safe_path,
)

KEY = bytes(range(32))
LOC = Location("bucket", "de", "backups", "vol")


class MemoryBucket:
    """Our ``ChunkStore`` interface over a dict; ETags are MD5s as S3 gives for one PUT."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.reads: list[str] = []  # keys read and prefixes listed, in order

    def put_bytes(self, bucket: str, key: str, data: bytes, region: str | None = None,
                  content_type: str = "application/octet-stream") -> str:
        self.objects[key] = data
        self.puts += 1
        return hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag

    def get_bytes(self, bucket: str, key: str, region: str | None = None) -> bytes | None:
        self.reads.append(key)
        return self.objects.get(key)

    def list_objects(self, bucket: str, prefix: str,
                     region: str | None = None) -> dict[str, tuple[int, str]]:
        self.reads.append(prefix)
        return {k: (len(v), hashlib.md5(v).hexdigest())  # noqa: S324
                for k, v in self.objects.items() if k.startswith(prefix)}


def codec() -> Codec:
    return Codec(Encoding(ZSTD, AES_GCM_STREAM, key_id(KEY)), KEY)


def night(root: Path, bucket: MemoryBucket, partition: str,
          parent: VolumeIndex | None = None) -> tuple[VolumeIndex, object]:
    return backup_tree(root, LOC, bucket, codec(), partition=partition, attempt=f"a{partition}",
                       source="ns/data", parent=parent, chunk_size=64 * 1024,
                       index_key=f"backups/vol/{partition}/a/index.json.zst.enc")


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "volume"
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "a.bin").write_bytes(os.urandom(200_000))
    (root / "uploads" / "copy.bin").write_bytes((root / "uploads" / "a.bin").read_bytes())
    (root / "empty").write_bytes(b"")
    (root / "link").symlink_to("uploads/a.bin")
    return root


def test_chunks_are_shared_within_and_across_nights(volume: Path) -> None:
    bucket = MemoryBucket()
    first, stats1 = night(volume, bucket, "2026-11-20")
    chunks = [k for k in bucket.objects if is_chunk_key("backups", "vol", k)]
    # a.bin and its copy share every chunk: 200,000 bytes in 64 KiB chunks is 4 chunks.
    assert len(chunks) == 4 == stats1.new_chunks  # type: ignore[attr-defined]
    assert {f.path: f.type for f in first.files}["link"] == "symlink"
    second, stats2 = night(volume, bucket, "2026-11-21", parent=first)
    assert stats2.new_chunks == 0 and stats2.read_bytes == 0  # type: ignore[attr-defined]
    assert stats2.reused_files == 3  # type: ignore[attr-defined]
    # The night reports the index it wrote, which the run compares with the bucket's.
    written = bucket.objects["backups/vol/2026-11-21/a/index.json.zst.enc"]
    assert (stats2.index_size, stats2.index_sha256) == (  # type: ignore[attr-defined]
        len(written), hashlib.sha256(written).hexdigest())
    (volume / "uploads" / "b.bin").write_bytes(b"new" * 1000)
    _, stats3 = night(volume, bucket, "2026-11-22", parent=second)
    assert stats3.new_chunks == 1 and stats3.read_bytes == 3000  # type: ignore[attr-defined]


def test_names_and_contents_in_the_bucket_reveal_nothing(volume: Path) -> None:
    bucket = MemoryBucket()
    index, _ = night(volume, bucket, "2026-11-20")
    plain_ids = {hashlib.sha256((volume / "uploads" / "a.bin").read_bytes()[i:i + 65536])
                 .hexdigest() for i in range(0, 200_000, 65536)}
    assert not plain_ids & set(index.chunks)
    assert all(v.startswith(b"POBKENC1") for v in bucket.objects.values())


def test_restore_compares_every_file(volume: Path, tmp_path: Path) -> None:
    bucket = MemoryBucket()
    night(volume, bucket, "2026-11-20")
    key = "backups/vol/2026-11-20/a/index.json.zst.enc"
    sha = hashlib.sha256(bucket.objects[key]).hexdigest()
    index = read_index(bucket, LOC, key, codec(), sha)
    problems, written = restore_tree(index, tmp_path / "out", LOC, bucket, codec())
    assert problems == [] and written == 400_000
    assert (tmp_path / "out" / "uploads" / "copy.bin").read_bytes() == \
        (volume / "uploads" / "a.bin").read_bytes()
    assert os.readlink(tmp_path / "out" / "link") == "uploads/a.bin"


def test_a_corrupted_chunk_is_named_and_written_again_the_next_night(volume: Path,
                                                                     tmp_path: Path) -> None:
    bucket = MemoryBucket()
    first, _ = night(volume, bucket, "2026-11-20")
    victim = chunk_key("backups", "vol", sorted(first.chunks)[0])
    bucket.objects[victim] = b"POBKENC1" + os.urandom(100)
    problems, _ = restore_tree(first, tmp_path / "out", LOC, bucket, codec())
    assert any(victim in p and "corrupted in the bucket" in p for p in problems)
    _, stats = night(volume, bucket, "2026-11-21", parent=first)
    assert stats.new_chunks == 1  # type: ignore[attr-defined]
    healed, _ = night(volume, bucket, "2026-11-22", parent=first)
    assert restore_tree(healed, tmp_path / "again", LOC, bucket, codec())[0] == []


def test_an_index_that_is_not_the_recorded_one_is_refused(volume: Path) -> None:
    bucket = MemoryBucket()
    night(volume, bucket, "2026-11-20")
    key = "backups/vol/2026-11-20/a/index.json.zst.enc"
    with pytest.raises(VolumeBackupError, match="is not the"):
        read_index(bucket, LOC, key, codec(), "0" * 64)


def test_the_index_is_written_as_every_field_of_its_records(volume: Path) -> None:
    """The format every earlier night wrote (each record's ``asdict``, sorted), and read back
    as it was."""
    from dataclasses import asdict

    index, _ = night(volume, MemoryBucket(), "2026-11-20")
    data = asdict(index)
    data["files"] = [asdict(f) for f in index.files]
    data["chunks"] = {k: asdict(c) for k, c in sorted(index.chunks.items())}
    assert index.to_json() == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert VolumeIndex.from_json(index.to_json()) == index


def test_an_index_cannot_write_outside_the_volume() -> None:
    for bad in ("../etc/passwd", "/etc/passwd", "a/../../b", "a/./b", ""):
        with pytest.raises(ValueError):
            safe_path(bad)
    raw = json.dumps({"version": 1, "target": "t", "partition": "p", "attempt": "a",
                      "files": [{"path": "../x", "type": "file", "mode": 420}],
                      "chunks": {}}).encode()
    with pytest.raises(IndexError_, match="inside the volume"):
        VolumeIndex.from_json(raw, "s3://b/index")


def test_a_file_list_round_trips_and_is_compared_with_a_restore() -> None:
    files = {"a.txt": (3, "ab" * 32), "d/b.bin": (0, "cd" * 32)}
    assert parse_file_list(file_list_json(files, "snap"), "s3://b/files.json") == files
    restored = {"a.txt": (3, "ef" * 32), "c.txt": (1, "ab" * 32)}
    assert compare_files(files, restored, "the list") == [
        f"a.txt: restored 3 bytes sha256 {'ef' * 6}…, the list records 3 bytes sha256 "
        f"{'ab' * 6}…", "c.txt: restored but not in the list", "d/b.bin: missing after restore"]
    assert compare_files(files, dict(files), "the list") == []


@pytest.mark.parametrize("doc, field", [
    ({"version": 1, "files": {"../x": [1, "ab" * 32]}}, "files.../x"),
    ({"version": 1, "files": {"x": [1, "nothex"]}}, "files.x"),
    ({"version": 1, "files": {"x": [-1, "ab" * 32]}}, "files.x"),
    ({"version": 2, "files": {}}, "version 1"),
    ([], "version 1"),
])
def test_a_hostile_file_list_is_refused_naming_the_field(doc: object, field: str) -> None:
    with pytest.raises(IndexError_, match=re.escape(field)):
        parse_file_list(json.dumps(doc).encode(), "s3://b/files.json")
    with pytest.raises(IndexError_, match="not JSON"):
        parse_file_list(b"{", "s3://b/files.json")


def test_a_missing_volume_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(VolumeBackupError, match="not mounted"):
        night(tmp_path / "nowhere", MemoryBucket(), "2026-11-20")


def test_a_condemned_chunk_is_uploaded_again_not_reused(volume: Path) -> None:
    """A chunk the collection condemned (core.chunk_gc) is about to be deleted: a night that
    needs its content writes it again instead of naming it; an unreadable condemned list
    makes the night reuse nothing."""
    from datetime import UTC, datetime

    from platform_assets.core.chunk_gc import condemned_json, condemned_key

    bucket = MemoryBucket()
    first, _ = night(volume, bucket, "2026-11-20")
    victim = chunk_key(LOC.prefix, LOC.target, next(iter(first.chunks)))
    bucket.put_bytes(LOC.bucket, condemned_key(LOC.prefix, LOC.target),
                     condemned_json({victim: datetime(2026, 11, 21, tzinfo=UTC)}))
    puts = bucket.puts
    _, stats = night(volume, bucket, "2026-11-22", parent=first)
    assert stats.new_chunks == 1 and bucket.puts == puts + 2  # the chunk again, the index
    bucket.put_bytes(LOC.bucket, condemned_key(LOC.prefix, LOC.target), b"{")
    _, stats = night(volume, bucket, "2026-11-23", parent=first)
    # Every file with content is read again and every chunk written again.
    assert stats.read_bytes == first.total_bytes and stats.new_chunks == len(first.chunks)


def test_the_agent_backs_up_a_night_on_its_parent(
        volume: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``backup`` with the parent's key and sha256 reuses every unchanged file (the chunk
    listing runs beside the parent's read, after the condemned list); a parent whose bytes are
    not the recorded ones is not used, and every file is read again."""
    from platform_assets.backups import agent

    bucket = MemoryBucket()
    monkeypatch.setattr(agent, "_store", lambda _args: bucket)
    monkeypatch.setenv("VOL_KEY", base64.b64encode(KEY).decode())

    def backup(partition: str, *parent: str) -> dict[str, object]:
        assert agent.main(["backup", "--source", str(volume), "--bucket", "b", "--prefix",
                           "backups", "--target", "vol", "--key-env", "VOL_KEY", "--partition",
                           partition, "--attempt", "a", "--index-key",
                           f"backups/vol/{partition}/a/index.json.zst.enc", *parent]) == 0
        return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"])

    first = backup("2026-11-20")
    bucket.reads.clear()
    second = backup("2026-11-21", "--parent-key", str(first["index_key"]), "--parent-sha256",
                    str(first["index_sha256"]))
    assert (second["reused_files"], second["read_bytes"], second["new_chunks"]) == (3, 0, 0)
    assert bucket.reads.index("backups/vol/gc/condemned.json") < bucket.reads.index(
        "backups/vol/chunks/")
    assert bucket.objects[str(second["index_key"])]
    third = backup("2026-11-22", "--parent-key", str(first["index_key"]), "--parent-sha256",
                   "0" * 64)
    assert third["reused_files"] == 0 and third["read_bytes"] == first["bytes"]
    assert third["new_chunks"] == 0  # every chunk read again is in the bucket already


def test_the_agent_lists_a_tree_and_verifies_a_restore_against_the_list(
        volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``list`` writes every file's size and sha256 (sealed); ``verify`` refuses a list whose
    bytes are not the recorded ones and names each file that differs."""
    from platform_assets.backups import agent

    bucket = MemoryBucket()
    monkeypatch.setattr(agent, "_store", lambda _args: bucket)
    monkeypatch.setenv("VOL_KEY", base64.b64encode(KEY).decode())
    common = ["--bucket", "b", "--prefix", "backups", "--target", "vol", "--key-env", "VOL_KEY",
              "--list-key", "backups/vol/p/a/files.json.zst.enc"]
    assert agent.main(["list", "--root", str(volume), *common]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"]
    assert listed["files"] == 3 and b"a.bin" not in bucket.objects[listed["list_key"]]
    restored = tmp_path / "restored"
    shutil.copytree(volume, restored, symlinks=True)
    (restored / "uploads" / "copy.bin").write_bytes(b"changed")
    assert agent.main(["verify", "--root", str(restored), "--list-sha256",
                       listed["list_sha256"], *common]) == 0
    problems = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"]["problems"]
    assert len(problems) == 1 and problems[0].startswith("uploads/copy.bin: restored 7 bytes")
    assert agent.main(["verify", "--root", str(volume), "--list-sha256", "0" * 64,
                       *common]) == 1
    assert "not the one the backup run recorded" in capsys.readouterr().out

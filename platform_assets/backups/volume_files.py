"""A volume's files to and from object storage, content-addressed and deduplicated (the layout
and the index: ``platform_assets.core.volume_index``). This is what the agent runs inside the
Job that mounts the PVC; the benchmark calls it directly.

Backup: walk the tree; a file with the size and mtime of the parent snapshot takes its chunks
from there unread; other files are read in chunks, each chunk named by its id and uploaded only
when the bucket lacks it (a few uploads in flight, so memory stays at a few chunks). The index
goes last. Restore: every chunk's stored bytes are checked against the index's sha256 before
they are decoded, its plaintext against its id after; then every restored file is read again
and compared with the index.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_assets.backups.streams import Encoding, decode, encode
from platform_assets.core.volume_index import (
    DEFAULT_CHUNK_SIZE,
    ChunkRecord,
    FileEntry,
    VolumeIndex,
    chunk_key,
    chunks_prefix,
    compare_restored,
    reusable,
    safe_path,
)

if TYPE_CHECKING:
    # Types only: the agent's pod imports no pydantic (``ports`` reaches the spec models).
    from platform_assets.core.ports import ChunkStore

_IN_FLIGHT = 4
_READ = 1024 * 1024


class VolumeBackupError(RuntimeError):
    """A file backup or restore that cannot go on: says which file or chunk and why."""


@dataclass(frozen=True)
class Location:
    """Where a target's chunks and indexes live."""

    bucket: str
    region: str | None
    prefix: str
    target: str


@dataclass
class Codec:
    """How chunks and the index are encoded, and the key (None: plain)."""

    encoding: Encoding = Encoding()
    key: bytes | None = field(default=None, repr=False)
    level: int = 3

    def chunk_id(self, data: bytes) -> str:
        """sha256 of the plaintext, or under encryption an HMAC with a key derived from the
        backup key (names in the bucket then reveal nothing of the content)."""
        if self.key is None:
            return hashlib.sha256(data).hexdigest()
        id_key = hashlib.sha256(b"platform-ops chunk id\0" + self.key).digest()
        return hmac.new(id_key, data, hashlib.sha256).hexdigest()

    def seal(self, data: bytes) -> bytes:
        return b"".join(encode(iter([data]), self.encoding, self.key, self.level, 0))

    def open(self, data: bytes) -> bytes:
        return b"".join(decode(iter([data]), self.encoding, self.key))


@dataclass
class BackupStats:
    """What one night did: files, bytes read, chunks and bytes uploaded, files reused, and the
    size and sha256 of the index it wrote (the run re-reads the index and compares)."""

    files: int = 0
    bytes: int = 0
    read_bytes: int = 0
    reused_files: int = 0
    new_chunks: int = 0
    uploaded_bytes: int = 0
    seconds: float = 0.0
    index_size: int = 0
    index_sha256: str = ""


@dataclass
class _Run:
    loc: Location
    store: ChunkStore
    codec: Codec
    present: dict[str, tuple[int, str]]
    parent: VolumeIndex | None
    chunks: dict[str, ChunkRecord] = field(default_factory=dict)
    pending: dict[str, Future[ChunkRecord]] = field(default_factory=dict)
    stats: BackupStats = field(default_factory=BackupStats)


def present_chunks(store: ChunkStore, loc: Location,
                   condemned: frozenset[str] | None) -> dict[str, tuple[int, str]]:
    """The target's chunks in the bucket that a night may reuse: id → (stored size, ETag),
    given the condemned list read before (``condemned_chunks``). A chunk the collection has
    condemned (``core.chunk_gc``) is left out, so a night that needs its content uploads it
    again instead of naming a chunk about to be deleted; when the condemned list could not be
    read, no chunk is reused."""
    return {k.rsplit("/", 1)[-1]: v for k, v in reusable_chunks(store, loc, condemned).items()}


def condemned_chunks(store: ChunkStore, loc: Location) -> frozenset[str] | None:
    """The chunk keys of the target the collection condemned (``core.chunk_gc``); None when
    the condemned list cannot be read. Read before the chunks are listed: a chunk the list
    does not name cannot be deleted within a grace period of reading it (longer than any
    night), whereas a chunk listed first might be deleted, and dropped from the list, before
    the list is read."""
    from platform_assets.core.chunk_gc import GcStateError, condemned_key, parse_condemned

    key = condemned_key(loc.prefix, loc.target)
    raw = store.get_bytes(loc.bucket, key, loc.region)
    try:
        return frozenset(parse_condemned(raw, f"s3://{loc.bucket}/{key}") if raw else ())
    except GcStateError:
        return None


def reusable_chunks(store: ChunkStore, loc: Location,
                    condemned: frozenset[str] | None) -> dict[str, tuple[int, str]]:
    """The target's chunk objects a writer may name without writing them again: key → (stored
    size, ETag), listed after ``condemned`` was read (``condemned_chunks``) and those left
    out; none, and nothing listed, when the condemned list could not be read."""
    if condemned is None:
        return {}
    return {k: v for k, v in store.list_objects(
        loc.bucket, chunks_prefix(loc.prefix, loc.target), loc.region).items()
        if k not in condemned}


def backup_tree(root: Path, loc: Location, store: ChunkStore, codec: Codec, *, partition: str,
                attempt: str, source: str, parent: VolumeIndex | None = None,
                chunk_size: int = DEFAULT_CHUNK_SIZE, index_key: str,
                log: Callable[[str], Any] = lambda _: None,
                present: dict[str, tuple[int, str]] | None = None,
                started: float | None = None) -> tuple[VolumeIndex, BackupStats]:
    """Back up the tree under ``root``; the index is written to ``index_key`` after every
    chunk it names is in the bucket. ``present``: ``present_chunks`` of the night, when the
    caller has listed them already, and ``started`` its ``time.monotonic()`` when it began
    (the night's seconds count from there). Returns the index and the night's figures."""
    t0 = time.monotonic() if started is None else started
    if not root.is_dir():
        raise VolumeBackupError(f"{root}: the volume is not mounted (no such directory)")
    if present is None:
        present = present_chunks(store, loc, condemned_chunks(store, loc))
    run = _Run(loc, store, codec, present, parent)
    previous = {f.path: f for f in parent.files} if parent else {}
    files: list[FileEntry] = []
    with ThreadPoolExecutor(_IN_FLIGHT, thread_name_prefix="chunk-upload") as pool:
        for rel, st in _walk(root):
            files.append(_entry(run, pool, root, rel, st, previous.get(rel), chunk_size))
            if not root.is_dir():
                raise VolumeBackupError(f"{root}: the volume went away during the backup")
        for cid, fut in run.pending.items():
            run.chunks[cid] = fut.result()
    index = VolumeIndex(target=loc.target, partition=partition, attempt=attempt, source=source,
                        chunk_size=chunk_size, encoding=codec.encoding.details(), files=files,
                        chunks={c: run.chunks[c] for f in files for c in f.chunks})
    sealed = codec.seal(index.to_json())
    store.put_bytes(loc.bucket, index_key, sealed, loc.region)
    run.stats.index_size, run.stats.index_sha256 = len(sealed), hashlib.sha256(sealed).hexdigest()
    run.stats.seconds = time.monotonic() - t0
    log(f"{run.stats.files} files, {run.stats.bytes} bytes: {run.stats.reused_files} unchanged, "
        f"{run.stats.read_bytes} bytes read, {run.stats.new_chunks} new chunks "
        f"({run.stats.uploaded_bytes} bytes uploaded) in {run.stats.seconds:.1f}s")
    return index, run.stats


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every directory, file and symlink, sorted, not following
    symlinks; sockets and devices are not backed up."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = base / name
            try:
                st = full.lstat()
            except FileNotFoundError:
                continue  # removed since the listing: the application is running
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                yield full.relative_to(root).as_posix(), st


def _entry(run: _Run, pool: ThreadPoolExecutor, root: Path, rel: str, st: os.stat_result,
           previous: FileEntry | None, chunk_size: int) -> FileEntry:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return FileEntry(rel, "dir", mode, mtime_ns=st.st_mtime_ns)
    if stat.S_ISLNK(st.st_mode):
        return FileEntry(rel, "symlink", mode, link=os.readlink(root / rel))
    run.stats.files += 1
    run.stats.bytes += st.st_size
    known = run.parent.chunks if run.parent else {}
    if reusable(previous, st.st_size, st.st_mtime_ns, run.present, known):
        assert previous is not None
        run.stats.reused_files += 1
        for c in previous.chunks:
            run.chunks.setdefault(c, known[c])
        return previous
    digest, ids, size = hashlib.sha256(), [], 0
    try:
        with open(root / rel, "rb") as f:
            while data := f.read(chunk_size):
                digest.update(data)
                size += len(data)
                ids.append(_chunk(run, pool, data))
    except FileNotFoundError:
        if not root.is_dir():
            raise VolumeBackupError(f"{root}: the volume went away during the backup") from None
        raise
    run.stats.read_bytes += size
    return FileEntry(rel, "file", mode, size, st.st_mtime_ns, digest.hexdigest(), tuple(ids))


def _chunk(run: _Run, pool: ThreadPoolExecutor, data: bytes) -> str:
    cid = run.codec.chunk_id(data)
    if cid in run.chunks or cid in run.pending:
        return cid
    known = run.parent.chunks.get(cid) if run.parent else None
    if known is not None and run.present.get(cid) == (known.stored_size, known.etag):
        run.chunks[cid] = known
        return cid
    if len(run.pending) >= _IN_FLIGHT * 2:
        for done in [c for c, f in run.pending.items() if f.done()] or [next(iter(run.pending))]:
            run.chunks[done] = run.pending.pop(done).result()
    run.pending[cid] = pool.submit(_store_chunk, run, cid, data)
    return cid


def _store_chunk(run: _Run, cid: str, data: bytes) -> ChunkRecord:
    """Upload a chunk the bucket lacks; one it has (another night's, not the parent's) is
    read back and kept when it opens to these bytes, else written again."""
    loc, key = run.loc, chunk_key(run.loc.prefix, run.loc.target, cid)
    if cid in run.present:
        raw = run.store.get_bytes(loc.bucket, key, loc.region)
        if raw is not None and _opens_to(run.codec, raw, cid):
            return ChunkRecord(len(data), len(raw), hashlib.sha256(raw).hexdigest(),
                               run.present[cid][1])
    sealed = run.codec.seal(data)
    etag = run.store.put_bytes(loc.bucket, key, sealed, loc.region)
    run.stats.new_chunks += 1
    run.stats.uploaded_bytes += len(sealed)
    return ChunkRecord(len(data), len(sealed), hashlib.sha256(sealed).hexdigest(), etag)


def _opens_to(codec: Codec, raw: bytes, cid: str) -> bool:
    try:
        return codec.chunk_id(codec.open(raw)) == cid
    except Exception:  # noqa: BLE001 - a chunk that does not open is written again
        return False


def read_index(store: ChunkStore, loc: Location, key: str, codec: Codec,
               sha256: str | None = None) -> VolumeIndex:
    """The index at ``key``; with ``sha256`` its stored bytes must hash to it (the backup
    run's record), else ``VolumeBackupError``."""
    raw = store.get_bytes(loc.bucket, key, loc.region)
    if raw is None:
        raise VolumeBackupError(f"s3://{loc.bucket}/{key}: the index is missing")
    got = hashlib.sha256(raw).hexdigest()
    if sha256 is not None and got != sha256:
        raise VolumeBackupError(f"s3://{loc.bucket}/{key}: sha256 {got[:12]}… is not the "
                                f"{sha256[:12]}… the backup run recorded")
    return VolumeIndex.from_json(codec.open(raw), f"s3://{loc.bucket}/{key}")


def restore_tree(index: VolumeIndex, dest: Path, loc: Location, store: ChunkStore,
                 codec: Codec) -> tuple[list[str], int]:
    """Restore ``index`` under ``dest`` and compare every file's size and sha256 with the
    index; (problems, bytes restored). Symlinks are made last, so no file is written through
    one."""
    problems: list[str] = []
    written = 0
    for f in sorted(index.files, key=lambda e: e.path):
        path = dest / safe_path(f.path)
        if f.type == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif f.type == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                written += _restore_file(index, f, path, loc, store, codec)
            except VolumeBackupError as exc:
                problems.append(str(exc))
                continue
            os.chmod(path, f.mode)
            os.utime(path, ns=(f.mtime_ns, f.mtime_ns))
    for f in index.files:
        if f.type == "symlink":
            (dest / safe_path(f.path)).symlink_to(f.link)
    problems += compare_restored(index, hash_tree(dest))
    return problems, written


def _restore_file(index: VolumeIndex, f: FileEntry, path: Path, loc: Location,
                  store: ChunkStore, codec: Codec) -> int:
    size = 0
    with open(path, "wb") as out:
        for cid in f.chunks:
            rec = index.chunks[cid]
            key = chunk_key(loc.prefix, loc.target, cid)
            raw = store.get_bytes(loc.bucket, key, loc.region)
            if raw is None:
                raise VolumeBackupError(f"{f.path}: chunk {key} is missing from the bucket")
            got = hashlib.sha256(raw).hexdigest()
            if (len(raw), got) != (rec.stored_size, rec.stored_sha256):
                raise VolumeBackupError(
                    f"{f.path}: chunk {key} is corrupted in the bucket ({len(raw)} bytes, "
                    f"sha256 {got[:12]}…; the index records {rec.stored_size} bytes, sha256 "
                    f"{rec.stored_sha256[:12]}…)")
            try:
                data = codec.open(raw)
            except Exception as exc:  # noqa: BLE001 - reported with the chunk's name
                raise VolumeBackupError(f"{f.path}: chunk {key} does not open: {exc}") from None
            if codec.chunk_id(data) != cid:
                raise VolumeBackupError(f"{f.path}: chunk {key} holds other content than its id")
            out.write(data)
            size += len(data)
    return size


def hash_tree(root: Path) -> dict[str, tuple[int, str]]:
    """(size, sha256) of every regular file under ``root``, by relative path."""
    out: dict[str, tuple[int, str]] = {}
    for rel, st in _walk(root):
        if not stat.S_ISREG(st.st_mode):
            continue
        digest = hashlib.sha256()
        with open(root / rel, "rb") as f:
            while data := f.read(_READ):
                digest.update(data)
        out[rel] = (st.st_size, digest.hexdigest())
    return out

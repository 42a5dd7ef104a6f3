"""The volume agent: the command of the Job that mounts a PVC, backing its files up or restoring
a snapshot into it (``platform_assets.backups.volume_files``).

    python -m platform_assets.backups.agent backup --source /data --bucket B --region R \\
        --prefix P --target T --partition D --attempt A --index-key K [--parent-key K2
        --parent-sha256 S] [--endpoint-url URL] [--key-env VAR] [--compression zstd --level 3]
    python -m platform_assets.backups.agent restore --dest /data --index-key K
        --index-sha256 S ... (same location options)
    python -m platform_assets.backups.agent list --root /data --list-key K ...
    python -m platform_assets.backups.agent verify --root /data --list-key K --list-sha256 S ...

``list`` and ``verify`` serve block-level backups (Longhorn's): the files of a clone of the
night's snapshot are listed with their sha256, and the drill's restored volume is compared
with that list.

S3 keys come from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and the backup key from the
variable ``--key-env`` names (the Job takes both from a Secret). The last line of the output is
one JSON object, ``{"result": {...}}`` or ``{"error": "..."}``, which the orchestrator reads from
the pod's log; the exit status is 0 only with a result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from platform_assets.backups.streams import AES_GCM_STREAM, Encoding, key_id, parse_key
from platform_assets.backups.volume_files import (
    Codec,
    Location,
    VolumeBackupError,
    backup_tree,
    condemned_chunks,
    hash_tree,
    present_chunks,
    read_index,
    restore_tree,
)
from platform_assets.core.small_objects import read_small
from platform_assets.core.volume_index import VolumeIndex
from platform_assets.heap import kept_to_exit

T = TypeVar("T")


def _say(line: str) -> None:
    """One line to the pod's log (what the orchestrator reads)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="platform-ops-volume-agent")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("backup", "restore", "list", "verify"):
        s = sub.add_parser(name)
        s.add_argument("--bucket", required=True)
        s.add_argument("--region", default=None)
        s.add_argument("--prefix", required=True)
        s.add_argument("--target", required=True)
        s.add_argument("--list-key" if name in ("list", "verify") else "--index-key",
                       required=True)
        s.add_argument("--endpoint-url", default=None)
        s.add_argument("--key-env", default=None)
        s.add_argument("--compression", default="zstd", choices=("zstd", "gzip"))
        s.add_argument("--level", type=int, default=3)
    b = sub.choices["backup"]
    b.add_argument("--source", type=Path, required=True)
    b.add_argument("--partition", required=True)
    b.add_argument("--attempt", required=True)
    b.add_argument("--pvc", default="")
    b.add_argument("--chunk-mb", type=int, default=4)
    b.add_argument("--parent-key", default=None)
    b.add_argument("--parent-sha256", default=None)
    r = sub.choices["restore"]
    r.add_argument("--dest", type=Path, required=True)
    r.add_argument("--index-sha256", required=True)
    sub.choices["list"].add_argument("--root", type=Path, required=True)
    sub.choices["list"].add_argument("--source", default="")
    sub.choices["verify"].add_argument("--root", type=Path, required=True)
    sub.choices["verify"].add_argument("--list-sha256", required=True)
    return p


class _S3:
    """The agent's S3 client: botocore alone, keys from its environment (the Job's Secret), so
    the pod starts fast (no Dagster, no pydantic, and not boto3, whose import pulls in
    s3transfer: a fifth of the start of an unchanged night); botocore's ``standard`` retry mode
    retries only transient errors (throttling, 5xx, connection errors) with backoff."""

    def __init__(self, endpoint: str | None, region: str | None):
        # Built once, in the agent's own process, which exits after its one command.
        with kept_to_exit():
            self.client = self._client(endpoint, region)

    @staticmethod
    def _client(endpoint: str | None, region: str | None) -> Any:
        from botocore.config import Config
        from botocore.session import Session

        session = Session()
        # The agent reads no timestamp (LastModified of the chunk listing): botocore's dateutil
        # parse of each was half the CPU of listing 512 chunks. awscli sets the same default
        # (awscli/customizations/scalarparse.py).
        session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=str)
        return session.create_client(
            "s3", endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or None,
            region_name=region or "eu-central-3",
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 6, "mode": "standard"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          max_pool_connections=16))

    def _call(self, describe: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            raise RuntimeError(f"{describe}: {exc}") from exc

    def put_bytes(self, bucket: str, key: str, data: bytes, region: str | None = None,
                  content_type: str = "application/octet-stream") -> str:
        out = self._call(f"PUT s3://{bucket}/{key}", lambda: self.client.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=content_type))
        return str(out.get("ETag", "")).strip('"')

    def get_bytes(self, bucket: str, key: str, region: str | None = None) -> bytes | None:
        def get() -> bytes | None:
            try:
                out = self.client.get_object(Bucket=bucket, Key=key)
            except self.client.exceptions.NoSuchKey:
                return None
            return read_small(out, f"s3://{bucket}/{key}")

        return self._call(f"GET s3://{bucket}/{key}", get)

    def list_objects(self, bucket: str, prefix: str,
                     region: str | None = None) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self._call(f"LIST s3://{bucket}/{prefix}",
                              partial(self.client.list_objects_v2, **kwargs))
            for o in page.get("Contents", []):
                out[o["Key"]] = (int(o["Size"]), str(o.get("ETag", "")).strip('"'))
            if not page.get("IsTruncated"):
                return out
            kwargs["ContinuationToken"] = page.get("NextContinuationToken")


def _store(args: argparse.Namespace) -> _S3:
    return _S3(args.endpoint_url, args.region)


def _codec(args: argparse.Namespace) -> Codec:
    key = parse_key(os.environ.get(args.key_env), args.key_env) if args.key_env else None
    encoding = Encoding(args.compression, AES_GCM_STREAM if key else None,
                        key_id(key) if key else None)
    return Codec(encoding, key, args.level)


def _backup(args: argparse.Namespace) -> dict[str, Any]:
    store, codec = _store(args), _codec(args)
    loc = Location(args.bucket, args.region, args.prefix, args.target)
    # The condemned list first (the night's first request), then the chunk listing, which
    # mostly waits on the bucket: the parent index is fetched and opened meanwhile.
    started = time.monotonic()
    condemned = condemned_chunks(store, loc)
    with ThreadPoolExecutor(1, thread_name_prefix="chunk-listing") as pool:
        present = pool.submit(present_chunks, store, loc, condemned)
        parent = _parent(args, store, loc, codec)
        index, stats = backup_tree(args.source, loc, store, codec, partition=args.partition,
                                   attempt=args.attempt, source=args.pvc, parent=parent,
                                   chunk_size=args.chunk_mb * 1024 * 1024,
                                   index_key=args.index_key, log=_say,
                                   present=present.result(), started=started)
    # What was written, not re-read here: the run re-reads the index from the bucket and
    # compares it with this report before the manifest names it (volume_job._checked_objects).
    return {"index_key": args.index_key, "index_size": stats.index_size,
            "index_sha256": stats.index_sha256, "files": stats.files,
            "bytes": stats.bytes, "read_bytes": stats.read_bytes,
            "reused_files": stats.reused_files, "new_chunks": stats.new_chunks,
            "uploaded_bytes": stats.uploaded_bytes, "chunks": len(index.chunks),
            "seconds": round(stats.seconds, 3)}


def _parent(args: argparse.Namespace, store: _S3, loc: Location,
            codec: Codec) -> VolumeIndex | None:
    """The previous night's index, when named and its bytes are the recorded ones."""
    if not args.parent_key:
        return None
    try:
        return read_index(store, loc, args.parent_key, codec, args.parent_sha256)
    except (VolumeBackupError, ValueError) as exc:
        _say(f"parent snapshot not used, every file is read: {exc}")
        return None


def _restore(args: argparse.Namespace) -> dict[str, Any]:
    store, codec = _store(args), _codec(args)
    loc = Location(args.bucket, args.region, args.prefix, args.target)
    index = read_index(store, loc, args.index_key, codec, args.index_sha256)
    args.dest.mkdir(parents=True, exist_ok=True)
    problems, written = restore_tree(index, args.dest, loc, store, codec)
    return {"files": sum(1 for f in index.files if f.type == "file"), "restored_bytes": written,
            "problems": problems}


def _list(args: argparse.Namespace) -> dict[str, Any]:
    """Every file's size and sha256 under ``--root`` (a clone of a block-level snapshot), as
    a file list at ``--list-key``: what the drill compares a restore of the backup with."""
    import hashlib

    from platform_assets.core.volume_index import file_list_json

    if not args.root.is_dir():
        raise VolumeBackupError(f"{args.root}: the volume is not mounted (no such directory)")
    store, codec = _store(args), _codec(args)
    files = hash_tree(args.root)
    sealed = codec.seal(file_list_json(files, args.source))
    store.put_bytes(args.bucket, args.list_key, sealed, args.region)
    return {"list_key": args.list_key, "list_size": len(sealed),
            "list_sha256": hashlib.sha256(sealed).hexdigest(), "files": len(files),
            "bytes": sum(size for size, _ in files.values())}


def _verify(args: argparse.Namespace) -> dict[str, Any]:
    """The files under ``--root`` (a restored volume) against the file list, whose stored
    bytes must hash to ``--list-sha256`` (the backup run's record) before it is opened."""
    import hashlib

    from platform_assets.core.volume_index import compare_files, parse_file_list

    store, codec = _store(args), _codec(args)
    where = f"s3://{args.bucket}/{args.list_key}"
    raw = store.get_bytes(args.bucket, args.list_key, args.region)
    if raw is None:
        raise VolumeBackupError(f"{where}: the file list is missing")
    if hashlib.sha256(raw).hexdigest() != args.list_sha256:
        raise VolumeBackupError(f"{where}: sha256 is not the one the backup run recorded")
    wanted = parse_file_list(codec.open(raw), where)
    found = hash_tree(args.root)
    return {"files": len(found), "restored_bytes": sum(size for size, _ in found.values()),
            "problems": compare_files(wanted, found, "the backup's file list")}


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "backup": _backup, "restore": _restore, "list": _list, "verify": _verify}


def main(argv: list[str] | None = None) -> int:
    """Run one command; the last output line is the JSON result or error."""
    args = _parser().parse_args(argv)
    try:
        result = COMMANDS[args.command](args)
    except Exception as exc:  # noqa: BLE001 - the orchestrator reads the cause from the log
        lines = str(exc).strip().splitlines()
        _say(json.dumps({"error": f"{type(exc).__name__}: {lines[0] if lines else ''}"}))
        return 1
    _say(json.dumps({"result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

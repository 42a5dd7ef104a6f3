"""The Velero backup engine (platform_assets.backups.velero) against fakes of our own interfaces:
the storage location's checks, reusing or retaking a partition's Backup, the time bound, and what
the bucket must hold before a backup counts."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from datetime import timedelta
from typing import Any

import pytest

from platform_assets.backups import velero as engine
from platform_assets.backups.errors import BackupError
from platform_assets.core import velero as v
from platform_assets.spec.models import VeleroSettings
from tests.unit.engine_fakes import FakeClock, FakeCluster

SITE = engine.Site("velero", VeleroSettings(timeout="10s"), 10.0)
LOG: list[str] = []


class FakeStore:
    """Objects of one bucket in memory."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})

    def list_objects(self, bucket: str, prefix: str,
                     region: str | None = None) -> dict[str, tuple[int, str]]:
        return {k: (len(b), "etag") for k, b in self.objects.items() if k.startswith(prefix)}

    def get_bytes(self, bucket: str, key: str, region: str | None = None) -> bytes | None:
        return self.objects.get(key)

    def sha256_of(self, bucket: str, key: str,
                  region: str | None = None) -> tuple[int, str] | None:
        raw = self.objects.get(key)
        return None if raw is None else (len(raw), hashlib.sha256(raw).hexdigest())


def _bsl(bucket: str = "backups", phase: str = "Available") -> dict[str, Any]:
    return {"apiVersion": v.API_VERSION, "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": "velero"},
            "spec": {"objectStorage": {"bucket": bucket, "prefix": "velero"}},
            "status": {"phase": phase, "message": "NoSuchBucket"}}


def test_the_storage_location_must_exist_store_in_the_backup_bucket_and_be_available() -> None:
    kube = FakeCluster()
    with pytest.raises(BackupError, match="BackupStorageLocation velero/default does not exist"):
        engine.storage_prefix(kube, SITE, "backups")
    kube.apply(_bsl(bucket="elsewhere"))
    with pytest.raises(BackupError, match="stores in bucket 'elsewhere', not in the backup bucket"):
        engine.storage_prefix(kube, SITE, "backups")
    kube.apply(_bsl(phase="Unavailable"))
    with pytest.raises(BackupError, match="is Unavailable: NoSuchBucket"):
        engine.storage_prefix(kube, SITE, "backups")
    kube.apply(_bsl())
    assert engine.storage_prefix(kube, SITE, "backups") == "velero"


def _request() -> v.BackupRequest:
    return v.BackupRequest("b1", "velero", "todo", "2026-11-20", ("todo",), "default",
                           timedelta(hours=24), False)


def test_a_backup_velero_never_finishes_fails_within_the_timeout() -> None:
    kube, clock = FakeCluster(), FakeClock()
    waiter = engine.Waiter(kube, SITE, clock.sleep, clock)
    with pytest.raises(BackupError, match="still without a phase after 10s: is the Velero "
                                          "server running in velero"):
        engine.ensure_backup(kube, waiter, _request(), LOG.append)
    assert 10 <= clock.now <= 12


def test_a_completed_backup_is_reused_and_a_failed_one_deleted_first() -> None:
    kube, clock = FakeCluster(), FakeClock()
    done = {**_request().manifest(), "status": {"phase": "Completed"}}
    kube.apply(done)
    got = engine.ensure_backup(kube, engine.Waiter(kube, SITE, clock.sleep, clock), _request(),
                               LOG.append)
    assert got["status"]["phase"] == "Completed" and kube.writes["APPLY"] == 1
    failed = {**_request().manifest(), "status": {"phase": "PartiallyFailed"}}
    failed["metadata"]["uid"] = "u1"
    kube.apply(failed)
    # Velero would act on the DeleteBackupRequest; nothing does here, so the wait times out.
    with pytest.raises(BackupError, match="Backup velero/b1 was not deleted within 10s"):
        engine.ensure_backup(kube, engine.Waiter(kube, SITE, clock.sleep, clock), _request(),
                             LOG.append)
    dbr = kube.get(v.API_VERSION, "DeleteBackupRequest", v.delete_request_name("b1"), "velero")
    assert dbr is not None and dbr["spec"] == {"backupName": "b1"}
    assert dbr["metadata"]["labels"] == {"velero.io/backup-name": "b1",
                                         "velero.io/backup-uid": "u1"}


def _tarball(n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {"metadata/version": b"1.1.0"}
        for i in range(n):
            entries[f"resources/configmaps/v1-preferredversion/namespaces/todo/c{i}.json"] = \
                json.dumps({"kind": "ConfigMap", "metadata": {"name": f"c{i}"}}).encode()
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _bucket(items: int = 2, uid: str = "u1") -> dict[str, bytes]:
    keys = v.backup_keys("velero", "b1")
    return {keys["metadata"]: json.dumps({"kind": "Backup", "metadata": {
                "name": "b1", "uid": uid}, "status": {"phase": "Completed"}}).encode(),
            keys["contents"]: _tarball(items), keys["log"]: b"log"}


BACKUP = {"metadata": {"name": "b1", "namespace": "velero", "uid": "u1"},
          "status": {"phase": "Completed", "progress": {"itemsBackedUp": 2}}}


def test_a_verified_backup_records_every_object_with_its_sha256() -> None:
    store = FakeStore(_bucket())
    objects, found = engine.verify_in_bucket(store, "backups", "de", "velero",
                                             BACKUP)
    assert found == {"format_version": "1.1.0", "items": 2}
    assert {o.key: o.sha256 for o in objects} == {
        k: hashlib.sha256(b).hexdigest() for k, b in _bucket().items()}


@pytest.mark.parametrize(("objects", "why"), [
    ({k: b for k, b in _bucket().items() if not k.endswith(".tar.gz")}, "lacks b1.tar.gz"),
    (_bucket(uid="old"), "is of another Backup 'b1'"),
    (_bucket(items=1), "the contents hold 1 item(s), Velero reported 2 backed up"),
    ({**_bucket(), v.backup_keys("velero", "b1")["contents"]: b"junk"}, "not a gzipped tar")])
def test_what_velero_reported_must_be_in_the_bucket(objects: dict[str, bytes],
                                                    why: str) -> None:
    with pytest.raises(BackupError, match=re.escape(why)):
        engine.verify_in_bucket(FakeStore(objects), "backups", "de", "velero",
                                BACKUP)


def test_a_partially_failed_backup_is_reported_with_velero_errors() -> None:
    import gzip

    results = gzip.compress(json.dumps({"errors": {"namespaces": {
        "todo": ["error executing item action: timed out"]}}}).encode())
    store = FakeStore({v.backup_keys("velero", "b1")["results"]: results})
    backup = {"metadata": {"name": "b1"}, "status": {"phase": "PartiallyFailed", "errors": 1}}
    err = engine.failure(SITE, backup, store, "backups", "de", "velero")
    assert str(err) == (
        "Velero Backup velero/b1 ended PartiallyFailed: 1 error(s), 0 warning(s) (namespace "
        "todo: error executing item action: timed out); its log is s3://backups/velero/backups/"
        "b1/b1-logs.gz (velero backup logs b1); the next run deletes it and takes the "
        "partition again")


def test_a_missing_storage_location_names_the_bucket_to_create_it_on() -> None:
    # The message lacked its f prefix and said "on bucket {bucket}" literally.
    with pytest.raises(BackupError, match="on bucket backups$"):
        engine.storage_prefix(FakeCluster(), SITE, "backups")

"""Object stores outside IONOS: examples/fleet's staging backs up to its own store (no IONOS
bucket, no bucket asset), the object storage resource routes the store's bucket to its
endpoint and keys, and bad stores or references fail naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.spec.loader import SpecError, load_graphs, load_specs_text
from resources import core_resources
from resources.credentials import CredentialError

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_specs_text(text, "fleet.yaml", path_exists=lambda _: True)
    return [str(p) for p in info.value.problems]


def _replace(old: str, new: str, text: str | None = None) -> str:
    text = FLEET.read_text() if text is None else text
    assert old in text, old
    return text.replace(old, new, 1)


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_staging_backs_up_to_its_store_and_production_is_unchanged() -> None:
    staging, production = load_graphs(FLEET)
    assert staging.spec.backup_bucket() == ("fleet-staging-backups", "us-east-1")
    backup = staging.nodes[("staging", "backups", "hello-content")]
    # The store's bucket is not an asset of ours: the backup follows only what it protects.
    assert backup.deps == (("staging", "applications", "hello"),)
    assert "ionos" not in backup.kinds
    assert production.spec.object_stores == [] and production.spec.backups is None


def test_the_resource_routes_the_stores_bucket_to_its_endpoint_and_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    staging, production = load_graphs(FLEET)
    store = core_resources(staging)["object_storage_staging"].open()
    monkeypatch.setenv("STAGING_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("STAGING_S3_ACCESS_KEY_ID", "minio-key")
    monkeypatch.setenv("STAGING_S3_SECRET_ACCESS_KEY", "minio-secret")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ionos-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ionos-secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    assert store.endpoint_for("de", "fleet-staging-backups") == "http://127.0.0.1:9000"
    assert store.agent_credentials("fleet-staging-backups") == {
        "AWS_ACCESS_KEY_ID": "minio-key", "AWS_SECRET_ACCESS_KEY": "minio-secret"}
    client = store.client("de", "fleet-staging-backups")
    assert client.meta.region_name == "us-east-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9000"
    # Any other bucket keeps the shared chain and IONOS's regional endpoints.
    assert store.agent_credentials("other")["AWS_ACCESS_KEY_ID"] == "ionos-key"
    assert store.endpoint_for("de", "other") == "https://s3.eu-central-1.ionoscloud.com"
    assert core_resources(production)["object_storage_production"].stores == []

    monkeypatch.delenv("STAGING_S3_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialError, match="set STAGING_S3_SECRET_ACCESS_KEY"):
        store.agent_credentials("fleet-staging-backups")
    monkeypatch.delenv("STAGING_S3_ENDPOINT")
    with pytest.raises(CredentialError, match="set STAGING_S3_ENDPOINT"):
        store.endpoint_for("us-east-1", "fleet-staging-backups")


def test_an_unknown_store_is_named_with_its_line() -> None:
    text = _replace("      store: staging-minio\n", "      store: staging-minoi\n")
    (p,) = _problems(text)
    assert p == (f"fleet.yaml:{_line(text, 'store: staging-minoi')}: "
                 "environments.staging.backups.store: unknown object store 'staging-minoi'; "
                 "expected one of ['staging-minio'] (object_stores)")


def test_a_store_without_credentials_is_refused() -> None:
    text = _replace("        credentials:\n          access_key_id_env: STAGING_S3_ACCESS_KEY_ID\n"
                    "          secret_access_key_env: STAGING_S3_SECRET_ACCESS_KEY\n", "")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, '- name: staging-minio')}: "
                        "environments.staging.object_stores[0].credentials: ")
    assert "missing" in p
    text = _replace("access_key_id_env: STAGING_S3_ACCESS_KEY_ID",
                    "access_key_id_env: staging s3 key")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'staging s3 key')}: environments.staging."
                        "object_stores[0].credentials.access_key_id_env: ")
    assert "is not an environment variable name" in p


def test_a_store_needs_exactly_one_endpoint() -> None:
    text = _replace("        endpoint_env: STAGING_S3_ENDPOINT\n",
                    "        endpoint_env: STAGING_S3_ENDPOINT\n"
                    "        endpoint: http://127.0.0.1:9000\n")
    (p,) = _problems(text)
    assert f"fleet.yaml:{_line(text, '- name: staging-minio')}: " in p
    assert "set either endpoint or endpoint_env, not both or neither" in p


def test_an_ionos_bucket_from_an_environment_without_ionos_is_refused() -> None:
    text = _replace("      store: staging-minio\n", "      bucket: fleet-ionos-backups\n")
    (p,) = _problems(text)
    assert p == (f"fleet.yaml:{_line(text, 'bucket: fleet-ionos-backups')}: "
                 "environments.staging.backups.bucket: 'fleet-ionos-backups' would be an "
                 "ionos.buckets bucket, and this environment has no ionos (its cluster is an "
                 "existing one): declare the bucket under object_stores and name it with store")
    both = _replace("      store: staging-minio\n",
                    "      store: staging-minio\n      bucket: fleet-staging-backups\n")
    (p,) = _problems(both)
    assert "environments.staging.backups: " in p and "set either bucket" in p


def test_an_ionos_snapshot_needs_an_ionos_cluster() -> None:
    text = _replace("pvc: hello-content, method: files}", "pvc: hello-content}")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, '- {name: hello-content')}: ")
    assert "backups.targets[0].method" in p
    assert "use method files, csi-snapshot or longhorn" in p


def test_a_copy_to_the_same_store_or_an_unknown_one_is_refused() -> None:
    text = _replace("      retention_days: 7\n", "      retention_days: 7\n"
                    "      cross_region_copy: {store: staging-minio}\n")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'cross_region_copy')}: "
                        "environments.staging.backups.cross_region_copy.store: store "
                        "'staging-minio' is in the same region")
    dr = ("      - name: staging-dr\n        endpoint: https://s3.example.org\n"
          "        region: eu-west-1\n        bucket: fleet-staging-dr\n"
          "        credentials: {access_key_id_env: DR_KEY, secret_access_key_env: DR_SECRET}\n")
    text = _replace("    backups:\n      store: staging-minio\n", dr +
                    "    backups:\n      store: staging-minio\n"
                    "      cross_region_copy: {store: staging-dr}\n")
    staging = dict(load_specs_text(text, "fleet.yaml", path_exists=lambda _: True))["staging"]
    assert staging.backup_bucket(dr=True) == ("fleet-staging-dr", "eu-west-1")
    twice = _replace("    backups:\n      store: staging-minio\n",
                     "      - name: staging-minio\n        endpoint: https://a.example\n"
                     "        bucket: abc\n        credentials: "
                     "{access_key_id_env: A, secret_access_key_env: B}\n"
                     "    backups:\n      store: staging-minio\n")
    (p,) = _problems(twice)
    assert p == (f"fleet.yaml:{_line(twice, 'bucket: abc') - 2}: environments.staging."
                 "object_stores[1].name: duplicate object store name 'staging-minio'")

"""One backup test's world on a sandbox: its spec written to a directory, the backup assets of
that spec, an ephemeral Dagster instance, the backup and DR buckets and the clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.backup_assets import build_backup_assets
from platform_assets.core.backup_manifest import Manifest, manifest_key
from platform_assets.core.graph import build_graph
from platform_assets.spec import load_spec
from resources.kubernetes import KubernetesResource
from resources.object_storage import ObjectStorageResource


def spec_head(name: str) -> str:
    """The top of a test spec: metadata and the IONOS infrastructure with the two buckets, as
    a ``str.format`` template (fields ``bucket`` and ``dr_bucket``)."""
    return f"""
apiVersion: platform-ops/v1
metadata: {{{{name: {name}-test, owners: [team:test]}}}}
ionos:
  datacenter: {{{{name: {name}-dc, location: de/fra}}}}
  lans: [{{{{name: lan1}}}}]
  cluster:
    name: {name}-cluster
    k8s_version: 1.32.6
    maintenance_window: {{{{day: Sunday, time: "10:00"}}}}
  node_pools:
    - {{{{name: pool, node_count: 1, cores: 2, ram: 4GB, storage_size: 20GB}}}}
  buckets:
    - {{{{name: {{bucket}}, region: de}}}}
    - {{{{name: {{dr_bucket}}, region: eu-central-3}}}}
"""


class BackupEnv:
    """``spec_text`` in ``tmp``, buckets ``bucket`` (de) and ``dr_bucket`` (eu-central-3)."""

    def __init__(self, app: Any, tmp: Path, spec_text: str, bucket: str, dr_bucket: str,
                 target: str):
        self.app, self.env = app, dict(app.env)
        self.bucket, self.dr_bucket, self.target = bucket, dr_bucket, target
        (tmp / "manifests").mkdir(exist_ok=True)
        (tmp / "platform.yaml").write_text(spec_text)
        self.spec = load_spec(tmp / "platform.yaml")
        self.instance = dg.DagsterInstance.ephemeral()
        self.assets, self.checks = build_backup_assets(build_graph(self.spec))
        self.store = ObjectStorageResource(
            access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.env["AWS_ENDPOINT_URL_S3"], default_region="de",
            retry_attempts=2, retry_max_wait_seconds=0.2)
        for name, region in ((bucket, "de"), (dr_bucket, "eu-central-3")):
            self.store.client(region).create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        self.kube = KubernetesResource(kubeconfig_path=self.env["KUBECONFIG"],
                                       retry_attempts=2, retry_max_wait_seconds=0.2)

    def run(self, key: tuple[str, ...], partition: str,
            with_checks: bool = False) -> dg.ExecuteInProcessResult:
        asset = next(a for a in self.assets if a.key == dg.AssetKey(list(key)))
        checks = [c for c in self.checks if next(iter(c.check_keys)).asset_key == asset.key]
        return dg.materialize([asset, *(checks if with_checks else [])],
                              partition_key=partition, raise_on_error=False,
                              resources={"object_storage": self.store, "kubernetes": self.kube},
                              instance=self.instance)

    def manifest(self, partition: str, dr: bool = False) -> Manifest | None:
        bucket, region = (self.dr_bucket, "eu-central-3") if dr else (self.bucket, "de")
        raw = self.store.get_bytes(bucket, manifest_key("backups", self.target, partition),
                                   region)
        return Manifest.from_json(raw) if raw else None

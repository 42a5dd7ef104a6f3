"""The S3 bucket handler: existence, versioning and lifecycle rules, each written only when it
differs."""

from __future__ import annotations

from dataclasses import dataclass

from platform_assets.core import desired
from platform_assets.core.calendar import Gate
from platform_assets.core.diff import diff
from platform_assets.core.graph import Node
from platform_assets.core.plan import Change, Plan, decide
from platform_assets.core.ports import Json
from platform_assets.engine.handler import Options, ReconcileOutcome, Runtime, section_as
from platform_assets.spec.models import Bucket


@dataclass
class BucketState:
    node: Node
    bucket: Bucket
    want: Json
    obs: Json | None
    change: Change = Change("", "no-op")


class BucketHandler:
    """Reconciles one bucket of ``ionos.buckets``."""

    def observe(self, rt: Runtime, node: Node, opts: Options) -> BucketState:
        b = section_as(node, Bucket)
        want = desired.bucket_state(b)
        obs = rt.buckets().bucket_state(b.name, b.region)
        if obs and want["versioning"] is None and obs.get("versioning"):
            want["versioning"] = "Suspended"  # versioning cannot be switched off, only suspended
        return BucketState(node, b, want, obs)

    def plan(self, rt: Runtime, st: BucketState, opts: Options, gate: Gate) -> ReconcileOutcome:
        b = st.bucket
        plan = Plan(st.node.path)
        fields = diff(st.want, st.obs) if st.obs else []
        st.change = plan.add(decide(f"s3/bucket/{b.name}", st.obs is not None, fields,
                                    immutable=desired.BUCKET_IMMUTABLE, gate=gate, mode=b.drift,
                                    drift=not opts.spec_changed(st.node),
                                    what=f"bucket {b.name}"))
        return ReconcileOutcome(plan)

    def apply(self, rt: Runtime, st: BucketState, out: ReconcileOutcome) -> None:
        b, want, action = st.bucket, st.want, st.change.action
        if action not in ("create", "update"):
            return
        s3 = rt.buckets()
        changed = {f.path.split(".")[0].split("[")[0] for f in st.change.fields}
        if action == "create":
            s3.create_bucket(b.name, b.region)
            out.writes += 1
        if (action == "create" and want["versioning"]) or "versioning" in changed:
            s3.set_bucket_versioning(b.name, b.region, want["versioning"] == "Enabled")
            out.writes += 1
        if (action == "create" and want["lifecycle"]) or "lifecycle" in changed:
            s3.set_bucket_lifecycle(b.name, b.region, want["lifecycle"])
            out.writes += 1

    def verify(self, rt: Runtime, st: BucketState, out: ReconcileOutcome, opts: Options) -> None:
        out.metadata.update({"bucket": st.bucket.name, "region": st.bucket.region,
                             "versioning": str(st.want["versioning"] or "off"),
                             "lifecycle_rules": len(st.want["lifecycle"])})

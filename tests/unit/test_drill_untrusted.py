"""A restore drill reads an exported namespace from the bucket, which is not trusted: hostile or
malformed YAML is a drill problem naming the object, never a traceback, and nothing of it is
applied (backups.drills, core.safeyaml)."""

from __future__ import annotations

from typing import Any

import pytest

from platform_assets.backups.drills import _restore_namespace
from platform_assets.core.backup_manifest import ManifestObject


class _Cluster:
    """The three calls a drill makes, recording what it applied."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def apply(self, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        if dry_run:
            return body
        self.objects[(body["kind"], body["metadata"]["name"])] = body
        return body

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None) -> bool:
        return self.objects.pop((kind, name), None) is not None


def _export(raw: bytes) -> tuple[list[str], int, _Cluster]:
    obj = ManifestObject("backups/resources/2026-11-24/services.yaml", len(raw), "0" * 64,
                         "services", details={"namespace": "services"})
    kube = _Cluster()
    problems, count = _restore_namespace(obj, raw, kube, "drill-resources", [])
    return problems, count, kube


def test_an_alias_bomb_in_the_bucket_is_refused_quickly_and_nothing_is_applied() -> None:
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}]\n".encode() for i in range(9))
    problems, count, kube = _export(bomb)
    assert count == 0 and not kube.objects
    assert len(problems) == 1 and "services.yaml" in problems[0] and "alias" in problems[0]


def test_documents_that_are_not_objects_are_named_and_the_rest_restores() -> None:
    raw = (b"- just\n- a list\n---\nkind: ConfigMap\nmetadata: {name: no-api-version}\n---\n"
           b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: {a: '1'}\n")
    problems, count, _ = _export(raw)
    assert count == 1
    assert [p.split(": ", 1)[0] for p in problems] == [
        "backups/resources/2026-11-24/services.yaml:1",
        "backups/resources/2026-11-24/services.yaml:4"]
    assert all("not a Kubernetes object" in p for p in problems)


def test_python_tags_are_refused() -> None:
    problems, count, _ = _export(b"!!python/object/apply:os.system ['id']\n")
    assert count == 0 and problems and "services.yaml" in problems[0]


def test_a_bucket_object_too_large_to_read_whole_is_refused_unread() -> None:
    # A planted multi-gigabyte "manifest" must fail with its key, not exhaust the run's memory.
    import io

    from platform_assets.core.small_objects import SMALL_OBJECT_MAX, ObjectTooLarge, read_small

    class Body(io.BytesIO):
        reads: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.reads.append(-1 if size is None else size)
            return super().read(size)

    told = {"ContentLength": SMALL_OBJECT_MAX + 1, "Body": Body(b"")}
    with pytest.raises(ObjectTooLarge, match="s3://b/m.json is 268435457 bytes.*not read"):
        read_small(told, "s3://b/m.json")
    assert Body.reads == []  # refused on the length alone
    untold = Body(b"x" * 10)
    assert read_small({"Body": untold}, "s3://b/k") == b"x" * 10
    assert Body.reads == [SMALL_OBJECT_MAX + 1]  # never asked for more than the bound

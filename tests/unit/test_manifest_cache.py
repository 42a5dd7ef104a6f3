"""The parsed-manifest cache: keyed by file and content, so an edit is parsed again, and every
caller gets objects of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from platform_assets.core import manifests
from platform_assets.core.graph import component_key
from platform_assets.core.manifests import ManifestError, load_directory, parse_manifests
from platform_assets.engine.reconcile import Engine
from tests.unit.engine_fakes import CONFIG, DEPLOYMENT, FakeClock, FakeCluster, make_graph

TEXT = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"


def test_the_same_content_gives_equal_objects_that_are_each_callers_own() -> None:
    first = parse_manifests(TEXT, "cache/a.yaml")
    first[0].obj["data"]["k"] = "changed by a caller"
    first[0].obj["metadata"]["namespace"] = "elsewhere"
    again = parse_manifests(TEXT, "cache/a.yaml")
    assert again[0].obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                            "data": {"k": "v"}}
    assert again[0].obj is not first[0].obj


def test_an_edited_file_is_parsed_again() -> None:
    assert parse_manifests(TEXT, "cache/b.yaml")[0].obj["data"] == {"k": "v"}
    edited = TEXT.replace("{k: v}", "{k: w}")
    assert parse_manifests(edited, "cache/b.yaml")[0].obj["data"] == {"k": "w"}
    assert parse_manifests(edited.encode(), "cache/b.yaml")[0].obj["data"] == {"k": "w"}


def test_the_same_content_in_another_file_names_that_file() -> None:
    assert parse_manifests(TEXT, "cache/c.yaml")[0].file == "cache/c.yaml"
    assert parse_manifests(TEXT, "cache/d.yaml")[0].file == "cache/d.yaml"
    bad = "kind: ConfigMap\n"
    for name in ("cache/e.yaml", "cache/f.yaml"):
        with pytest.raises(ManifestError, match=f"{name}:1: object is missing apiVersion"):
            parse_manifests(bad, name)


def test_the_cache_is_bounded_by_the_size_of_the_files_it_holds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "_PARSED", {})
    monkeypatch.setattr(manifests, "_parsed_size", [0])
    monkeypatch.setattr(manifests, "_PARSED_MAX_BYTES", 3 * len(TEXT) + 10)
    for i in range(10):
        text = TEXT.replace("name: a", f"name: b{i}")
        assert parse_manifests(text, "cache/g.yaml")[0].name == f"b{i}"
    assert len(manifests._PARSED) == 3
    assert manifests._parsed_size[0] == sum(size for size, _ in manifests._PARSED.values())
    big = TEXT + "#" * (4 * len(TEXT)) + "\n"  # larger than the whole cache: parsed, not kept
    assert parse_manifests(big, "cache/h.yaml")[0].name == "a"
    assert len(manifests._PARSED) == 3


def test_a_file_edited_on_disk_between_two_runs_of_one_process_is_applied(
        tmp_path: Path) -> None:
    graph = make_graph(tmp_path)
    k8s = FakeCluster()
    web = graph.nodes[component_key("platform", "web")]
    assert graph.base_dir is not None

    def run() -> int:
        assert graph.base_dir is not None
        engine = Engine(graph.spec, graph.base_dir, kubernetes=k8s, sleep=FakeClock().sleep,
                        clock=FakeClock())
        return engine.reconcile(web).writes

    assert run() == 4 and run() == 0
    path = tmp_path / "manifests" / "web" / "objects.yaml"
    path.write_text(yaml.safe_dump_all([DEPLOYMENT, CONFIG | {"data": {"greeting": "hi"}}]))
    assert run() == 1
    assert k8s.objects[("v1", "ConfigMap", "web", "web-config")]["data"] == {"greeting": "hi"}
    assert load_directory(path.parent)[1].obj["data"] == {"greeting": "hi"}


def test_forgetting_empties_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Benchmarks forget before each round, so a round parses as a run's new process does.
    parse_manifests(TEXT, "cache/forget.yaml")
    assert manifests._PARSED and manifests._parsed_size[0] > 0
    manifests.forget_parsed()
    assert not manifests._PARSED and manifests._parsed_size[0] == 0
    calls = []
    real = manifests._parse
    monkeypatch.setattr(manifests, "_parse", lambda t, f: calls.append(f) or real(t, f))
    parse_manifests(TEXT, "cache/forget.yaml")
    assert calls == ["cache/forget.yaml"]

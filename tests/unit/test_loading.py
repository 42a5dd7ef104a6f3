"""One graph loader: ``core.loading.graph_from_source`` gives the same graph from a directory on
disk and from the same files held elsewhere (a Git commit's tree), with base_dir, manifest digests
and errors that name the file as the source names it."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest

from platform_assets.core.loading import (
    commit_of_run,
    graph_for_run,
    graph_from_source,
    manifest_digest,
)
from platform_assets.core.manifests import directory_digest
from platform_assets.names import TAG_COMMIT
from platform_assets.spec.loader import DEFAULT_SPEC, SpecError, load_graph
from platform_assets.spec.source import DirectorySource

EXAMPLE = DEFAULT_SPEC.parent


class MemorySource:
    """Files in a dict, the way the Git resource's ``CommitTree`` holds a commit."""

    def __init__(self, files: dict[str, bytes], label: str = "abc") -> None:
        self.files = files
        self.label = label

    @property
    def root(self) -> Path | None:
        return None

    def describe(self, path: str) -> str:
        return f"{path}@{self.label}"

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.files[posixpath.normpath(path)]
        except KeyError:
            raise FileNotFoundError(2, "no such file at this commit", path) from None

    def is_dir(self, path: str) -> bool:
        return any(f.startswith(posixpath.normpath(path) + "/") for f in self.files)

    def list_tree(self, directory: str) -> list[str]:
        prefix = posixpath.normpath(directory) + "/"
        return [f for f in self.files if f.startswith(prefix)]

    def first_link(self, directory: str) -> str | None:
        return None  # a dict holds no links


def _example_in_memory(prefix: str = "") -> MemorySource:
    files = {prefix + p.relative_to(EXAMPLE).as_posix(): p.read_bytes()
             for p in EXAMPLE.rglob("*") if p.is_file()}
    return MemorySource(files)


def test_disk_and_memory_give_the_same_graph() -> None:
    on_disk = load_graph(DEFAULT_SPEC)
    in_memory = graph_from_source(_example_in_memory("deploy/"), "deploy/platform.yaml")
    assert on_disk.base_dir == EXAMPLE.resolve()
    assert in_memory.base_dir is None
    assert {k: n.code_version for k, n in in_memory.nodes.items()} == {
        k: n.code_version for k, n in on_disk.nodes.items()}


def test_manifest_digest_is_the_directory_digest_wherever_the_files_are() -> None:
    disk = manifest_digest(DirectorySource(EXAMPLE), "manifests/wordpress")
    assert disk == directory_digest(EXAMPLE / "manifests" / "wordpress")
    assert manifest_digest(_example_in_memory(), "manifests/wordpress") == disk
    assert manifest_digest(_example_in_memory(), "manifests/nowhere") == directory_digest(
        EXAMPLE / "nowhere")


def test_editing_a_manifest_changes_its_component_only() -> None:
    before = load_graph(DEFAULT_SPEC)
    edited = _example_in_memory()
    edited.files["manifests/wordpress/deployment.yaml"] += b"\n# edited\n"
    after = graph_from_source(edited, "platform.yaml")
    changed = {k for k, n in after.nodes.items() if n.code_version != before.nodes[k].code_version}
    assert changed == {before.component_node("wordpress").key}


def test_errors_name_the_file_as_the_source_does() -> None:
    source = _example_in_memory()
    with pytest.raises(SpecError, match=r"nowhere\.yaml@abc: cannot read the spec"):
        graph_from_source(source, "nowhere.yaml")
    for path in [f for f in source.files if f.startswith("manifests/wordpress/")]:
        del source.files[path]
    with pytest.raises(SpecError, match=r"platform\.yaml@abc:\d+: .*manifests.*'manifests/"
                                        r"wordpress' does not exist"):
        graph_from_source(source, "platform.yaml")


def test_directory_source_names_files_by_the_path_given(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=rf"{tmp_path}/missing\.yaml: cannot read the spec"):
        load_graph(tmp_path / "missing.yaml")


def test_commit_tag_is_read_once_and_validated() -> None:
    graph = load_graph(DEFAULT_SPEC)
    assert commit_of_run({TAG_COMMIT: "a" * 40}) == "a" * 40
    assert commit_of_run({TAG_COMMIT: "not a sha; rm -rf /"}) is None
    assert graph_for_run({}, None, graph) is graph
    assert graph_for_run({TAG_COMMIT: "b" * 40}, None, graph) is graph

"""Hostile YAML and paths in specs and manifests: refused with file and line, bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from platform_assets.core import safeyaml
from platform_assets.core.manifests import ManifestError, load_directory, parse_manifests
from platform_assets.spec import SpecError, load_spec, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
EXAMPLE = DEFAULT_SPEC.read_text()


def _spec_error(text: str, file: str = "hostile.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, file)
    return info.value


@pytest.mark.parametrize(("fixture", "message", "line"), [
    ("alias-bomb.yaml", "aliases expand to more than", None),
    ("merge-bomb.yaml", "aliases expand to more than", None),
    ("duplicate-key.yaml", "duplicate key 'apiVersion'", 4),
    ("complex-key.yaml", "a mapping key must be a scalar", 3),
    ("python-tag.yaml", "tag:yaml.org,2002:python/object/apply:os.system is not allowed", 3),
    ("self-alias.yaml", "alias *loop names no complete anchor", 3),
    ("huge-int.yaml", "cannot read the value '9999", 3),
])
def test_hostile_spec_fixture_is_refused_with_file_and_line(
        fixture: str, message: str, line: int | None) -> None:
    """Each of these took gigabytes, ended in a traceback or was silently accepted before."""
    path = HOSTILE / fixture
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as info:
            load_spec(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert message in problem.message
    assert problem.line is not None
    if line is not None:
        assert problem.line == line
    assert peak < 50 * 1024 * 1024, f"refusing {fixture} used {peak} bytes"


def test_alias_bomb_is_about_ten_kilobytes_and_would_expand_beyond_memory() -> None:
    text = (HOSTILE / "alias-bomb.yaml").read_text()
    assert 8_000 < len(text) < 12_000
    # The same document through PyYAML's own loader shares the aliased lists instead of copying
    # them (so it loads), which is what made every later walk of it (json, hashing, the spec's
    # line-tracking loader) explode.
    import yaml

    data = yaml.safe_load(text)
    assert data["l9"][0] is data["l9"][1]


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    # 100,000 levels crash libyaml's own composer (segmentation fault) and recurse in Python.
    for text in ("[" * 100_000 + "]" * 100_000, "a:\n" + "".join(
            " " * i + f"k{i}:\n" for i in range(1, 500)) + " " * 500 + "x: 1\n"):
        err = _spec_error(text)
        (problem,) = err.problems
        assert f"nesting deeper than {safeyaml.MAX_DEPTH} levels" in problem.message
        assert problem.line is not None


def test_nesting_through_aliases_is_bounded_too() -> None:
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 300))
    (problem,) = _spec_error(text).problems
    assert "nesting deeper than" in problem.message and "aliases" in problem.message


def test_size_and_node_limits() -> None:
    big = "a: " + "x" * (safeyaml.MAX_BYTES + 1)
    (problem,) = _spec_error(big).problems
    assert "over the limit" in problem.message
    many = "[" + "1," * (safeyaml.MAX_NODES + 1) + "]"
    (problem,) = _spec_error(many).problems
    assert f"more than {safeyaml.MAX_NODES} YAML nodes" in problem.message


@pytest.mark.parametrize(("text", "message"), [
    ("a: \x00\n", "control characters are not allowed"),
    ("a: 1\n---\nb: 2\n", "expected a single document"),
    ("a: !!int xyz\n", "cannot read the value 'xyz'"),
    ("a: 2020-99-99\n", "cannot read the value '2020-99-99'"),
    ("a: [\n", "YAML syntax error"),
    ("<<: 5\n", "a merge key << takes a mapping"),
])
def test_malformed_scalars_and_streams_name_the_line(text: str, message: str) -> None:
    (problem,) = _spec_error(text).problems
    assert message in problem.message and problem.line is not None
    assert problem.file == "hostile.yaml"


def test_aliases_and_merge_keys_used_sparingly_still_work() -> None:
    text = ("base: &base {a: 1, b: 2}\nother: &other {b: 3, c: 4}\n"
            "m: {<<: [*base, *other], a: 9}\nlist: [*base, *base]\n")
    data = safeyaml.load_one(text, "ok.yaml")
    # Explicit keys win over merged ones; among merged mappings the earlier one wins (YAML 1.1).
    assert data["m"] == {"a": 9, "b": 2, "c": 4}
    assert data["list"] == [{"a": 1, "b": 2}, {"a": 1, "b": 2}]
    assert data["list"][0] is not data["list"][1]


def test_lines_are_reported_for_fields() -> None:
    lines: dict[tuple[object, ...], int] = {}
    safeyaml.load_one("a:\n  b:\n    - x\n    - y\n", "f.yaml", lines.__setitem__)
    assert lines[("a", "b", 1)] == 4 and lines[("a",)] == 2


def test_example_spec_still_loads() -> None:
    assert load_spec(DEFAULT_SPEC).metadata.name == "ionos-production"


@pytest.mark.parametrize(("text", "message"), [
    ((HOSTILE / "alias-bomb.yaml").read_text().replace(
        "metadata: {name: *l9}", "kind: ConfigMap\nmetadata: {name: x}\ndata: {a: *l9}"),
     "aliases expand to more than"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nkind: Secret\n",
     "duplicate key 'kind'"),
    ("apiVersion: v1\nkind: List\nitems: [1]\n", "items[0]: expected a mapping"),
    ("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items: expected a list"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: 5\n", "metadata: expected a mapping"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: [x]}\n",
     "metadata.namespace: expected a string"),
    ("apiVersion: v1\nkind: [ConfigMap]\nmetadata: {name: a}\n", "missing kind"),
    ("[" * 50_000, "nesting deeper than"),
])
def test_hostile_manifest_is_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, "m/cm.yaml")
    assert str(info.value).startswith("m/cm.yaml:") and message in str(info.value)


def test_duplicate_keys_in_a_manifest_are_refused_not_last_wins(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: services}\n"
        "data: {x: '1'}\nmetadata: {name: a, namespace: kube-system}\n")
    with pytest.raises(ManifestError, match=r"cm\.yaml:5: duplicate key 'metadata'"):
        load_directory(tmp_path / "m")


def _spec_with_manifest_path(path: str) -> str:
    old = "source: {manifests: {path: manifests/wordpress}}"
    assert old in EXAMPLE
    return EXAMPLE.replace(old, f"source: {{manifests: {{path: {path!r}}}}}")


@pytest.mark.parametrize(("path", "message"), [
    ("/etc", "'/etc' is absolute"),
    ("../../etc", "'../../etc' is outside the spec's directory"),
    ("manifests/../../etc", "is outside the spec's directory"),
    ("..", "is outside the spec's directory"),
    (".", "is outside the spec's directory"),
    ("C:/Windows", "is absolute"),
    ("manifests\\wordpress", "has a backslash"),
])
def test_manifest_path_outside_the_spec_directory_is_refused(path: str, message: str) -> None:
    text = _spec_with_manifest_path(path)
    err = _spec_error(text, "platform.yaml")
    (problem,) = err.problems
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "path: " + repr(path) in x)
    assert problem.line == line
    assert problem.path.endswith(".source.manifests.path")
    assert message in problem.message


def _example_copy(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(DEFAULT_SPEC.parent, tmp_path / "platform")
    return tmp_path / "platform"


def test_symlinked_manifest_file_is_refused(tmp_path: Path) -> None:
    base = _example_copy(tmp_path)
    secret = tmp_path / "host-secret.yaml"
    secret.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n")
    (base / "manifests" / "wordpress" / "stolen.yaml").symlink_to(secret)
    with pytest.raises(SpecError) as info:
        load_spec(base / "platform.yaml")
    (problem,) = info.value.problems
    assert "symbolic link at 'manifests/wordpress/stolen.yaml'" in problem.message
    assert problem.path.endswith("source.manifests.path") and problem.line is not None
    with pytest.raises(ManifestError, match="is a symbolic link"):
        load_directory(base / "manifests" / "wordpress")


def test_symlinked_manifest_directory_is_refused(tmp_path: Path) -> None:
    base = _example_copy(tmp_path)
    outside = tmp_path / "elsewhere"
    (base / "manifests" / "wordpress").rename(outside)
    (base / "manifests" / "wordpress").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SpecError, match="symbolic link at 'manifests/wordpress'"):
        load_spec(base / "platform.yaml")
    with pytest.raises(ManifestError, match="does not exist \\(or is a link\\)"):
        load_directory(base / "manifests" / "wordpress")


def test_a_manifest_path_the_filesystem_cannot_read_is_a_spec_error(tmp_path: Path) -> None:
    # A name longer than NAME_MAX (255 on Linux) made the path check raise OSError ENAMETOOLONG
    # out of the loader, a traceback instead of the spec's line and field.
    base = _example_copy(tmp_path)
    spec = base / "platform.yaml"
    text = spec.read_text()
    assert "{path: manifests/flux}" in text
    spec.write_text(text.replace("{path: manifests/flux}", f"{{path: {'x' * 300}}}", 1))
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    (problem,) = info.value.problems
    assert "cannot be read: File name too long" in problem.message
    assert problem.path.endswith("source.manifests.path") and problem.line is not None

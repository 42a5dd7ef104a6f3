"""The spec's JSON Schema: committed and current, valid for the example, strict on unknown keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from platform_assets.__main__ import main
from platform_assets.spec.schema import MODELINE, SCHEMA_FILE, render_schema

EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as the yaml-language-server reads it (YAML 1.2 core schema: no timestamp type, so
    ``start: 2026-12-21T00:00:00Z`` is a string, as the editor validates it)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _example() -> Any:
    return yaml.load(EXAMPLE.read_text(), Loader=_Yaml12Loader)


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == render_schema(), (
        "platform/platform.schema.json is stale: run `platform-ops schema -o "
        "platform/platform.schema.json`")


def test_schema_command_writes_the_committed_schema(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schema.json"
    assert main(["schema", "--output", str(out)]) == 0
    assert out.read_text() == SCHEMA_FILE.read_text()
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SCHEMA_FILE.read_text()
    assert main(["schema", "-o", str(tmp_path / "missing" / "x.json")]) == 1
    assert "cannot write the schema to" in capsys.readouterr().err


def test_example_carries_the_modeline_and_validates() -> None:
    assert EXAMPLE.read_text().splitlines()[0] == f"{MODELINE}platform.schema.json"
    errors = [f"{e.json_path}: {e.message}" for e in _validator().iter_errors(_example())]
    assert errors == []


@pytest.mark.parametrize(("where", "wrong"), [
    ((), "metdata"),
    (("ionos", "cluster"), "k8s_verison"),
    (("ionos", "node_pools", 0), "node_cont"),
])
def test_schema_rejects_a_misspelled_key(where: tuple[str | int, ...], wrong: str) -> None:
    spec = _example()
    target = spec
    for part in where:
        target = target[part]
    target[wrong] = 1
    errors = list(_validator().iter_errors(spec))
    assert len(errors) == 1
    assert list(errors[0].absolute_path) == list(where)
    assert errors[0].validator == "additionalProperties" and repr(wrong) in errors[0].message


def test_schema_rejects_a_wrong_type_and_a_missing_field() -> None:
    spec = _example()
    spec["ionos"]["node_pools"][0]["node_count"] = "three"
    del spec["metadata"]
    messages = sorted(e.message for e in _validator().iter_errors(spec))
    assert messages == ["'metadata' is a required property", "'three' is not of type 'integer'"]

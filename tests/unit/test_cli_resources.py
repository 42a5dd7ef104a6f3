"""The CLI's resources are the Definitions' resources (one function), with the environment read
at once instead of through ``dg.EnvVar``."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.__main__ import resources_from_env
from platform_assets.definitions import build_definitions
from platform_assets.spec.loader import DEFAULT_SPEC, load_graph
from resources import core_resources


def _fields(resource: dg.ConfigurableResource) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in type(resource).model_fields:
        value = resource.__dict__.get(name)
        if isinstance(value, dg.EnvVar):
            out[name] = f"${value.env_var_name}"
        elif isinstance(value, dg.ConfigurableResource):
            out[name] = _fields(value)
        else:
            out[name] = value
    return out


def test_cli_builds_the_definitions_resources_with_values_from_the_environment() -> None:
    graph = load_graph(DEFAULT_SPEC)
    bound = build_definitions(DEFAULT_SPEC).resources or {}
    in_definitions = core_resources(graph)
    env_names = {v[1:] for r in in_definitions.values() for v in _fields(r).values()
                 if isinstance(v, str) and v.startswith("$")}
    assert {"IONOS_TOKEN", "AWS_SECRET_ACCESS_KEY"} <= env_names
    cli = resources_from_env(graph, {name: f"${name}" for name in env_names})
    assert set(cli) == set(in_definitions) <= set(bound)
    for key, resource in cli.items():
        assert type(resource) is type(bound[key])
        # With each variable's value set to its own name, the two are field for field the same.
        assert _fields(resource) == _fields(in_definitions[key]), key


def test_cli_names_every_missing_secret_and_defaults_the_endpoints() -> None:
    graph = load_graph(DEFAULT_SPEC)
    with pytest.raises(LookupError) as err:
        resources_from_env(graph, {"IONOS_TOKEN": "t"})
    assert str(err.value).startswith("set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (")
    res = resources_from_env(graph, {"IONOS_TOKEN": "t", "AWS_ACCESS_KEY_ID": "k",
                                     "AWS_SECRET_ACCESS_KEY": "s"})
    assert res["ionos"].api_url == "https://api.ionos.com/cloudapi/v6"

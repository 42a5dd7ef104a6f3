"""The CLI's resources are the Definitions' resources (one function), holding no secret: both
read the credentials when a client is built; the CLI checks them first and names what to set."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.__main__ import resources_from_env
from platform_assets.definitions import build_definitions
from platform_assets.spec.loader import DEFAULT_SPEC, load_graph
from resources import core_resources
from resources.credentials import CredentialError
from resources.kubeconfig import KubeconfigError


def _fields(resource: dg.ConfigurableResource) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in type(resource).model_fields:
        value = resource.__dict__.get(name)
        out[name] = _fields(value) if isinstance(value, dg.ConfigurableResource) else value
    return out


def test_cli_builds_the_definitions_resources_without_secrets() -> None:
    graph = load_graph(DEFAULT_SPEC)
    bound = build_definitions(DEFAULT_SPEC).resources or {}
    cli = resources_from_env(graph, {"IONOS_USERNAME": "u", "IONOS_PASSWORD": "p"})
    assert set(cli) == {"ionos", "kubernetes", "object_storage"} <= set(bound)
    for key, resource in cli.items():
        # The CLI's are opened (the resource with its methods, a subclass of the config that
        # the Definitions bind and a run opens).
        assert type(resource) is type(bound[key].open())
        assert _fields(resource) == _fields(core_resources(graph)[key]) == _fields(bound[key])
    ionos = _fields(cli["ionos"])
    assert ionos["token"] is ionos["password"] is ionos["api_url"] is None
    assert ionos["location"] == graph.spec.ionos.datacenter.location
    assert _fields(cli["object_storage"])["secret_access_key"] is None


def test_cli_names_what_is_missing_before_any_request() -> None:
    graph = load_graph(DEFAULT_SPEC)
    with pytest.raises(CredentialError, match="IONOS credentials missing"):
        resources_from_env(graph, {"AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(CredentialError, match="set AWS_SECRET_ACCESS_KEY too"):
        resources_from_env(graph, {"IONOS_TOKEN": "t", "AWS_ACCESS_KEY_ID": "k"})
    with pytest.raises(KubeconfigError, match="PLATFORM_KUBECONFIG is no longer read"):
        resources_from_env(graph, {"IONOS_TOKEN": "t", "PLATFORM_KUBECONFIG": "/k"})
    res = resources_from_env(graph, {"IONOS_TOKEN": "t"})
    assert res["ionos"].endpoints().cloud == "https://api.ionos.com/cloudapi/v6"

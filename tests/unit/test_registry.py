"""Container registries in the spec and the pure core: spec errors with file, line and field for
bad names, scopes and token wiring; the properties sent to the API; the image pull Secret."""

from __future__ import annotations

import base64
import json

import pytest

from platform_assets.core import registry
from platform_assets.core.graph import KEY_CLUSTER, build_graph, registry_key
from platform_assets.names import ANNOTATION_REGISTRY_TOKEN
from platform_assets.spec import load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC
from tests.unit.test_spec_databases import line_of, problems

EXAMPLE = DEFAULT_SPEC.read_text()


def edited(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def test_the_example_registry_runs_after_the_cluster_before_wordpress() -> None:
    spec = load_spec_text(EXAMPLE, "platform.yaml")
    graph = build_graph(spec)
    node = graph.nodes[registry_key("samcloud")]
    assert (node.group, node.kind, node.kinds) == ("infrastructure", "registry",
                                                   frozenset({"ionos", "registry"}))
    assert list(node.deps) == [KEY_CLUSTER]
    assert registry_key("samcloud") in graph.nodes[("applications", "wordpress")].deps
    reg = spec.ionos_infra.registries[0]
    assert [(p.key, p.token) for p in registry.pull_secrets(spec, reg)] == [
        ("services/samcloud-registry", "wordpress-pull")]
    # An absent component gets no credentials: its reconcile deletes its pull Secret.
    gone = spec.model_copy(update={"applications": [
        c.model_copy(update={"absent": c.name == "wordpress"}) for c in spec.applications]})
    assert registry.pull_secrets(gone, reg) == []


@pytest.mark.parametrize(("old", "new", "field", "message"), [
    ("    - name: samcloud\n", "    - name: Samcloud\n", "ionos.registries[0].name",
     "'Samcloud' is not a valid registry name"),
    ("    - name: samcloud\n", "    - name: sc\n", "ionos.registries[0].name",
     "'sc' is not a valid registry name"),
    ("        - name: wordpress-pull\n", "        - name: 1pull\n",
     "ionos.registries[0].tokens[0].name", "'1pull' is not a valid token name"),
    ('{repositories: "wordpress/*", actions: [pull]}',
     '{repositories: "wordpress/*", actions: [pull, write]}',
     "ionos.registries[0].tokens[0].scopes[0].actions[1]", "'pull', 'push' or 'delete'"),
    ("      garbage_collection: {days: [Sunday], time: \"03:00\"}\n",
     "      garbage_collection: {days: [Sun], time: \"03:00\"}\n",
     "ionos.registries[0].garbage_collection.days[0]", "'Sun' is not allowed"),
])
def test_bad_registry_fields_name_file_line_and_field(old: str, new: str, field: str,
                                                     message: str) -> None:
    text = edited(old, new)
    line = line_of(text, new.splitlines()[0]) if "\n" in new else None
    out = problems(text)
    assert field in out and message in out, out
    if line is not None:
        assert f"platform.yaml:{line}:" in out


def test_a_token_on_an_unknown_registry_or_an_unknown_token_names_the_line() -> None:
    text = edited("        - asset: registry/samcloud\n          token: wordpress-pull\n",
                  "        - asset: registry/elsewhere\n          token: wordpress-pull\n")
    line = line_of(text, "        - asset: registry/elsewhere")
    out = problems(text)
    assert f"platform.yaml:{line}:" in out
    assert "unknown infrastructure asset 'registry/elsewhere'" in out
    text = edited("          token: wordpress-pull\n", "          token: ci-push\n")
    line = line_of(text, "          token: ci-push")
    assert (f"platform.yaml:{line}: applications[0].inputs.infrastructure[2].token: registry "
            "samcloud has no token 'ci-push'; expected one of ['wordpress-pull']") in problems(text)


def test_a_pull_secret_needs_a_token_and_only_its_key() -> None:
    out = problems(edited("          token: wordpress-pull\n", ""))
    assert "inputs.infrastructure[2].token: the dockerconfigjson output needs the token" in out
    out = problems(edited("keys: {dockerconfigjson: .dockerconfigjson}",
                          "keys: {dockerconfigjson: auth}"))
    assert "inputs.infrastructure[2].keys: an image pull Secret holds exactly one key" in out
    out = problems(edited(
        "          secret: samcloud-registry\n"
        "          keys: {dockerconfigjson: .dockerconfigjson}",
        "          config_map: samcloud-registry\n"
        "          keys: {dockerconfigjson: .dockerconfigjson}"))
    assert "'dockerconfigjson' is a secret: write it into a Secret" in out


def test_duplicate_tokens_are_refused() -> None:
    text = edited('            - {repositories: "wordpress/*", actions: [pull]}\n',
                  '            - {repositories: "wordpress/*", actions: [pull]}\n'
                  '        - name: wordpress-pull\n          scopes: [{repositories: "*", '
                  'actions: [push]}]\n')
    assert "ionos.registries[0].tokens[1].name: duplicate token name 'wordpress-pull'" in \
        problems(text)


def test_desired_properties_follow_the_api_shapes() -> None:
    spec = load_spec_text(edited("            - {repositories: \"wordpress/*\", actions: [pull]}\n",
                                 "            - {repositories: \"wordpress/*\", actions: [pull]}\n"
                                 "          expiry: 2027-06-30\n"), "platform.yaml")
    want = registry.desired(spec.ionos_infra.registries[0], spec)
    assert want["garbageCollectionSchedule"] == {"days": ["Sunday"], "time": "03:00:00+00:00"}
    assert want["features"] == {"vulnerabilityScanning": {"enabled": False}}
    assert want["tokens"]["wordpress-pull"] == {
        "name": "wordpress-pull", "status": "enabled", "expiryDate": "2027-06-30T00:00:00Z",
        "scopes": [{"name": "wordpress/*", "actions": ["pull"], "type": "repository"}]}
    assert want["pullSecrets"] == {"services/samcloud-registry": registry.CURRENT}
    # The SDK serializes datetimes with +00:00; both spellings are the same expiry.
    observed = registry.observed_token({"properties": {**want["tokens"]["wordpress-pull"],
                                                       "expiryDate": "2027-06-30T00:00:00+00:00",
                                                       "credentials": {"password": ""}}})
    assert observed == want["tokens"]["wordpress-pull"]


def test_the_pull_secret_is_a_dockerconfigjson_naming_its_token() -> None:
    config = registry.dockerconfigjson("samcloud.cr.de-fra.ionos.com", "wordpress-pull", "pw")
    auths = json.loads(config)["auths"]["samcloud.cr.de-fra.ionos.com"]
    assert base64.b64decode(auths["auth"]).decode() == "wordpress-pull:pw"
    obj = registry.pull_secret_object("services", "samcloud-registry", config, "tok-1")
    assert obj["type"] == "kubernetes.io/dockerconfigjson"
    assert registry.held_config(obj) == config
    assert registry.secret_state(obj, "tok-1") == registry.CURRENT
    assert registry.secret_state(obj, "tok-2") == "holds token tok-1, not the current one"
    assert registry.secret_state(None, "tok-1") == "missing"
    assert obj["metadata"]["annotations"] == {ANNOTATION_REGISTRY_TOKEN: "tok-1"}


def test_tokens_near_or_past_their_expiry_are_plan_notes() -> None:
    from datetime import date

    from platform_assets.spec.models import ContainerRegistry

    reg = ContainerRegistry.model_validate({"name": "samcloud", "tokens": [
        {"name": "pull", "scopes": [{"repositories": "app/*", "actions": ["pull"]}],
         "expiry": "2026-12-01"},
        {"name": "ci", "scopes": [{"repositories": "app/*", "actions": ["push"]}],
         "expiry": "2026-11-20"},
        {"name": "off", "scopes": [{"repositories": "app/*", "actions": ["pull"]}],
         "expiry": "2026-11-20", "enabled": False},
        {"name": "later", "scopes": [{"repositories": "app/*", "actions": ["pull"]}],
         "expiry": "2027-06-01"},
        {"name": "never", "scopes": [{"repositories": "app/*", "actions": ["pull"]}]},
    ]})
    notes = registry.token_expiry_notes(reg, date(2026, 11, 26))
    assert notes == [
        "registry samcloud token pull expires on 2026-12-01 (in 5 days); set a later expiry "
        "before image pulls fail",
        "registry samcloud token ci expired on 2026-11-20: image pulls with it fail; set a later "
        "expiry",
    ]
    assert registry.token_expiry_notes(reg, date(2026, 11, 1)) == []

"""Environments: overlays resolved per environment, prefixed keys, per-environment Dagster
names and resources, and bad overlays named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.core.graph import build_graph
from platform_assets.reconcile_assets import resource_keys
from platform_assets.spec.loader import SpecError, load_graphs, load_specs_text
from platform_assets.spec.models import HelmReleaseSource

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"


def _specs(text: str) -> dict[str | None, object]:
    return dict(load_specs_text(text, "fleet.yaml", path_exists=lambda _: True))


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_specs_text(text, "fleet.yaml", path_exists=lambda _: True)
    return [str(p) for p in info.value.problems]


def _replace(old: str, new: str) -> str:
    text = FLEET.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_each_environment_is_a_complete_spec_with_prefixed_keys() -> None:
    staging, production = load_graphs(FLEET)
    assert (staging.environment, production.environment) == ("staging", "production")
    assert all(k[0] == "staging" for k in staging.nodes)
    assert all(k[0] == "production" for k in production.nodes)
    # staging is an existing cluster: no IONOS infrastructure at all
    assert staging.spec.ionos is None and staging.spec.cluster is not None
    assert not [n for n in staging.nodes.values() if "ionos" in n.kinds]
    assert ("production", "ionos", "cluster") in production.nodes
    # production's components run after its node pool; staging's have no pool to wait for
    hello = production.nodes[("production", "applications", "hello")]
    flux = production.nodes[("production", "platform", "flux-install")]
    assert flux.deps == (("production", "ionos", "node_pool", "workers"),)
    assert staging.nodes[("staging", "platform", "flux-install")].deps == ()
    assert ("production", "platform", "ingress") in hello.deps
    assert hello.description.startswith("[production] ")


def test_an_override_reaches_only_its_environment() -> None:
    staging, production = load_graphs(FLEET)

    def values(graph: object, name: str) -> dict[str, object]:
        src = graph.spec.component(name).source.helm_release  # type: ignore[attr-defined]
        assert isinstance(src, HelmReleaseSource)
        return dict(src.values)

    assert values(staging, "ingress") == {"service": {"type": "NodePort"}}
    assert values(production, "ingress") == {"service": {"type": "LoadBalancer"}}
    # the deep merge keeps what the override does not name
    ing_s = staging.spec.component("ingress").source.helm_release
    ing_p = production.spec.component("ingress").source.helm_release
    assert ing_s is not None and ing_p is not None and ing_s.version == ing_p.version
    # code versions: only the overridden component differs between environments
    for name, layer in (("hello", "applications"), ("flux-install", "platform")):
        assert (staging.nodes[("staging", layer, name)].code_version
                == production.nodes[("production", layer, name)].code_version)
    assert (staging.nodes[("staging", "platform", "ingress")].code_version
            != production.nodes[("production", "platform", "ingress")].code_version)
    # a per-environment calendar and drift schedule
    assert production.spec.change_calendar.freezes and not staging.spec.change_calendar.freezes
    assert staging.spec.drift.schedule.cron == "*/30 * * * *"
    assert production.spec.drift.schedule.cron != staging.spec.drift.schedule.cron
    assert production.spec.promotion is not None and production.spec.promotion.after == "staging"
    assert staging.spec.promotion is None


def test_a_spec_without_environments_is_unchanged() -> None:
    (graph,) = load_graphs(ROOT / "platform" / "platform.yaml")
    assert graph.environment is None
    assert graph.nodes.keys() == build_graph(graph.spec).nodes.keys()
    assert ("ionos", "cluster") in graph.nodes


def test_a_disabled_component_is_left_out_of_its_environment_only() -> None:
    text = _replace("      ingress:\n        source: {helm_release: {values: {service: {type: "
                    "NodePort}}}}\n",
                    "      hello: {enabled: false}\n").replace("protects: hello, ", "")
    # The base's remediation rule restarts hello: staging, without hello, cannot keep it.
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'target: hello')}: remediation.rules[0]."
                        "target (environment staging): unknown asset 'hello'")
    text = text.replace("      hello: {enabled: false}\n",
                        "      hello: {enabled: false}\n    remediation: {rules: []}\n")
    specs = _specs(text)
    names = {e: [c.name for c in s.components] for e, s in specs.items()}  # type: ignore[attr-defined]
    assert "hello" not in names["staging"] and "hello" in names["production"]


def test_disabling_a_component_another_needs_is_an_error() -> None:
    text = _replace("      ingress:\n        source:", "      ingress:\n        enabled: false\n"
                    "        source:")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'enabled: false')}: "
                        "environments.staging.components.ingress.enabled: 'hello' depends on "
                        "'ingress'")


def test_unknown_component_in_overrides_names_file_line_and_field() -> None:
    text = _replace("      ingress:\n        source:", "      ingres:\n        source:")
    (p,) = _problems(text)
    # a mapping's line is where its value starts (as for every spec problem)
    assert p.startswith(f"fleet.yaml:{_line(text, 'ingres:') + 1}: "
                        "environments.staging.components.ingres: unknown component 'ingres'")


def test_unknown_field_in_a_component_override_names_the_override_line() -> None:
    text = _replace("{values: {service:", "{valuez: {service:")
    (p,) = _problems(text)
    assert p == (f"fleet.yaml:{_line(text, 'valuez')}: environments.staging.components.ingress."
                 "source.helm_release.valuez: unknown key; check the spelling against "
                 "docs/spec.md")


def test_wrong_type_in_an_environment_section_names_the_override_line() -> None:
    text = _replace("        - name: workers\n          node_count: 2",
                    "        - name: workers\n          node_count: two")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'node_count: two')}: "
                        "environments.production.ionos.node_pools[0].node_count: wrong type")


def test_unknown_key_of_an_environment() -> None:
    text = _replace("    promotion: {after: staging}\n", "    promotoin: {after: staging}\n")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'promotoin')}: "
                        "environments.production.promotoin: unknown key; an environment may set")


def test_an_environment_without_a_cluster() -> None:
    text = _replace("    cluster:\n      name: k3s-staging\n      kubeconfig_env: "
                    "STAGING_KUBECONFIG\n", "")
    (p,) = _problems(text)
    assert p == (f"fleet.yaml:{_line(text, '  staging:') + 1}: environments.staging: the "
                 "environment has no cluster: set ionos (an IONOS managed cluster) or cluster "
                 "(an existing one, by kubeconfig)")


def test_two_environments_on_the_same_cluster() -> None:
    text = FLEET.read_text() + (
        "  qa:\n"
        "    cluster: {name: k3s-qa, kubeconfig_env: STAGING_KUBECONFIG}\n")
    (p,) = _problems(text)
    assert p == (f"fleet.yaml:{_line(text, '  qa:') + 1}: environments.qa.cluster: the same "
                 "cluster as environment 'staging'; each environment needs a cluster of its own")


def test_promotion_after_an_unknown_environment() -> None:
    text = _replace("promotion: {after: staging}", "promotion: {after: stagin}")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'stagin}')}: "
                        "environments.production.promotion.after: unknown environment 'stagin'")


def test_infrastructure_in_the_base_of_a_fleet_is_refused() -> None:
    text = _replace("\nplatform:\n", "\ncluster: {name: shared, kubeconfig_env: KUBECONFIG}\n"
                    "\nplatform:\n")
    problems = _problems(text)
    assert problems[0].startswith(f"fleet.yaml:{_line(text, 'cluster: {name: shared')}: cluster: "
                                  "with environments, each environment names its own")


def test_a_spec_with_neither_ionos_nor_cluster() -> None:
    text = ROOT.joinpath("platform", "platform.yaml").read_text()
    start = text.index("\nionos:\n")
    end = text.index("\nplatform:\n")
    (p, *_) = _problems(text[:start] + "\n" + text[end:])
    assert "no cluster: set ionos" in p


def test_an_existing_cluster_environment_binds_no_ionos_resource() -> None:
    from resources import build_resources

    staging, production = load_graphs(FLEET)
    assert resource_keys(staging) == {"kubernetes_staging", "object_storage_staging", "git"}
    assert "ionos_production" in resource_keys(production)
    res = build_resources(staging, env=lambda name: f"<{name}>")
    assert "ionos_staging" not in res
    kube = res["kubernetes_staging"]
    assert kube.kubeconfig_path == "<STAGING_KUBECONFIG>" and not kube.from_ionos_cluster


def test_definitions_hold_each_environment_side_by_side(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from platform_assets.definitions import build_definitions

    repo = build_definitions(FLEET).get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {"reconcile_platform_staging", "reconcile_platform_production",
            "detect_drift_staging", "detect_drift_production"} <= jobs
    assert "reconcile_platform" not in jobs
    staging_job = repo.get_job("reconcile_platform_staging")
    keys = {k.path[0] for k in staging_job.asset_layer.asset_graph.get_all_asset_keys()
            if staging_job.asset_layer.asset_graph.get(k).is_executable}
    assert keys == {"staging"}
    groups = {repo.asset_graph.get(k).group_name for k in repo.asset_graph.get_all_asset_keys()}
    assert {"staging_platform", "production_infrastructure"} <= groups
    pools = {next(iter(repo.asset_graph.get(k).pools or []), None)
             for k in repo.asset_graph.get_all_asset_keys()}
    assert {"platform-ops-staging-k3s-staging", "platform-ops-production-fleet-prod"} <= pools


def test_the_cli_validates_every_environment_and_plans_one(capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    from platform_assets.__main__ import main, resources_from_env

    assert main(["validate", "--spec", str(FLEET)]) == 0
    out = capsys.readouterr().out
    assert "fleet [staging]: 6 assets" in out and "fleet [production]: 8 assets" in out
    assert main(["graph", "--spec", str(FLEET), "--environment", "staging"]) == 0
    assert "nstaging_platform_ingress" in capsys.readouterr().out
    assert main(["graph", "--spec", str(FLEET)]) == 1
    assert "the spec has environments (production, staging): name one" in capsys.readouterr().err
    staging, _ = load_graphs(FLEET)
    # An existing cluster's plan needs its kubeconfig and no IONOS credentials at all.
    res = resources_from_env(staging, {"STAGING_KUBECONFIG": "/tmp/k3s.yaml"})
    assert res["ionos"] is None and res["kubernetes"].kubeconfig_path == "/tmp/k3s.yaml"
    with pytest.raises(ValueError, match="set STAGING_KUBECONFIG"):
        resources_from_env(staging, {})


def _with_production_credentials(credentials: str) -> str:
    return _replace("    ionos:\n      datacenter: {name: fleet-production",
                    f"    ionos:\n      credentials: {credentials}\n      datacenter: "
                    "{name: fleet-production")


def test_an_environment_names_its_own_ionos_credential_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from resources import build_resources
    from resources.credentials import CredentialError

    text = _with_production_credentials("{token_env: PRODUCTION_IONOS_TOKEN}")
    specs = _specs(text)
    graph = build_graph(specs["production"], environment="production")  # type: ignore[arg-type]
    ionos = build_resources(graph, env=lambda name: f"<{name}>")["ionos_production"].open()
    assert (ionos.token_env, ionos.environment) == ("PRODUCTION_IONOS_TOKEN", "production")
    # Only its own variable counts: the shared IONOS_TOKEN may be another account's.
    monkeypatch.setenv("IONOS_TOKEN", "shared-account")
    monkeypatch.delenv("PRODUCTION_IONOS_TOKEN", raising=False)
    with pytest.raises(CredentialError) as err:
        ionos.credentials()
    assert str(err.value) == (
        "environment production: IONOS credentials missing (none is set): set "
        "PRODUCTION_IONOS_TOKEN (each also as *_FILE, the path of a mounted Secret, or *_VAULT)")
    monkeypatch.setenv("PRODUCTION_IONOS_TOKEN", "production-account")
    assert ionos.credentials().token == "production-account"
    # An environment without its own keeps the shared variables.
    fleet = build_resources(load_graphs(FLEET)[1], env=lambda name: name)
    default = fleet["ionos_production"].open()
    assert default.token_env is None and default.credentials().token == "shared-account"


def test_an_environments_own_login_needs_both_variables() -> None:
    text = _with_production_credentials("{username_env: PRODUCTION_IONOS_USER}")
    (p,) = _problems(text)
    assert p.startswith(f"fleet.yaml:{_line(text, 'PRODUCTION_IONOS_USER')}: "
                        "environments.production.ionos.credentials: ")
    assert "set both username_env and password_env, or neither" in p
    text = _with_production_credentials("{token_env: production-token}")
    (p,) = _problems(text)
    assert "environments.production.ionos.credentials.token_env: " in p
    assert "'production-token' is not an environment variable name" in p

"""deploy/: manifests vs. Kubernetes schemas and the sandbox API; Helm values vs. the chart."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import missing_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = DEPLOY / "manifests"
KUBECTL = "/usr/bin/kubectl"

# Keys of Dagster's official chart (helm/dagster values.yaml and its pydantic schema in
# helm/dagster/schema, chart 1.13). No network here, so the chart is not fetched: this is the
# part of its schema our values use, transcribed; `helm template` in CI with network is the full
# check (docs/production.md).
CHART_TOP_LEVEL = {
    "global", "nameOverride", "fullnameOverride", "rbacEnabled", "imagePullSecrets",
    "dagsterWebserver", "dagster-user-deployments", "postgresql",
    "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "rabbitmq", "redis",
    "flower", "ingress", "computeLogManager", "scheduler", "runLauncher", "pythonLogs",
    "dagsterDaemon", "busybox", "migrate", "telemetry", "serviceAccount", "retention",
    "additionalInstanceConfig", "extraManifests", "concurrency",
}
CHART_SECTIONS: dict[tuple[str, ...], set[str]] = {
    ("global",): {"postgresqlSecretName", "dagsterHome", "serviceAccountName",
                  "celeryConfigSecretName"},
    ("dagsterWebserver",): {
        "replicaCount", "image", "nameOverride", "pathPrefix", "service", "workspace", "env",
        "envConfigMaps", "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity",
        "tolerations", "podSecurityContext", "securityContext", "resources", "readinessProbe",
        "livenessProbe", "startupProbe", "annotations", "enableReadOnly", "dbStatementTimeout",
        "dbPoolRecycle", "logLevel", "schedulerName", "volumeMounts", "volumes"},
    ("dagster-user-deployments",): {"enabled", "enableSubchart", "imagePullSecrets",
                                    "deployments", "serviceAccount"},
    ("postgresql",): {"image", "enabled", "postgresqlHost", "postgresqlUsername",
                      "postgresqlPassword", "postgresqlDatabase", "postgresqlParams",
                      "postgresqlScheme", "service"},
    ("runLauncher",): {"type", "config"},
    ("runLauncher", "config"): {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    ("runLauncher", "config", "k8sRunLauncher"): {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
        "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels",
        "failPodOnRunFailure", "resources", "schedulerName", "securityContext", "runK8sConfig"},
    ("runLauncher", "config", "k8sRunLauncher", "runK8sConfig"): {
        "containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig",
        "jobMetadata"},
    ("dagsterDaemon",): {
        "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps",
        "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe",
        "startupProbe", "annotations", "runMonitoring", "runRetries", "sensors", "schedules",
        "schedulerName", "volumeMounts", "volumes"},
    ("dagsterDaemon", "runCoordinator"): {"enabled", "type", "config"},
    ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator"): {
        "maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds",
        "dequeueNumWorkers", "dequeueUseThreads"},
    ("retention",): {"enabled", "sensor", "schedule", "autoMaterialize"},
}
USER_DEPLOYMENT_KEYS = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
    "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity",
    "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe",
    "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName",
    "initContainers", "sidecarContainers"}


def _model(type_name: str) -> Any:
    import kubernetes.client.models as models

    return getattr(models, type_name, None)


def schema_problems(value: Any, type_name: str, path: str) -> list[str]:
    """Fields the Kubernetes OpenAPI schema (the typed client's models) does not know, and
    values of the wrong shape, under ``path``."""
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        inner = type_name[5:-1]
        return [p for i, v in enumerate(value) for p in schema_problems(v, inner, f"{path}[{i}]")]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [p for k, v in value.items() for p in schema_problems(v, inner, f"{path}.{k}")]
    model = _model(type_name)
    if model is None:  # str, int, bool, object (IntOrString, quantities, free-form)
        expected = {"str": str, "int": int, "bool": bool}.get(type_name)
        if expected and not isinstance(value, expected) and not (
                expected is str and isinstance(value, int | float)):
            return [f"{path}: expected {type_name}, got {type(value).__name__}"]
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name})"]
    by_json = {j: p for p, j in model.attribute_map.items()}
    problems = []
    for key, v in value.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: unknown field of {type_name}")
            continue
        problems.extend(schema_problems(v, model.openapi_types[by_json[key]], f"{path}.{key}"))
    return problems


def object_problems(obj: dict[str, Any], where: str) -> list[str]:
    """Schema problems of one object; custom resources (no typed model) are checked shallowly."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    version = api_version.rsplit("/", 1)[-1]
    model = f"{version[:1].upper()}{version[1:]}{kind}"
    if _model(model) is None:
        missing = [k for k in ("apiVersion", "kind", "metadata", "spec") if k not in obj]
        return [f"{where}: {kind} lacks {', '.join(missing)}"] if missing else []
    problems = schema_problems(obj, model, f"{where}:{kind}/{obj['metadata'].get('name')}")
    # Required fields: the typed client refuses to build a model without them.
    from kubernetes.client import ApiClient

    class _Response:
        data = json.dumps(obj)

    try:
        ApiClient().deserialize(_Response(), model)
    except ValueError as exc:
        problems.append(f"{where}:{kind}/{obj['metadata'].get('name')}: {exc}")
    return problems


def shipped_objects() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                out.append((path.name, obj))
    return out


def test_every_shipped_manifest_matches_the_kubernetes_schemas() -> None:
    objects = shipped_objects()
    kinds = {obj["kind"] for _, obj in objects}
    assert {"ServiceAccount", "ClusterRole", "Role", "RoleBinding", "Deployment", "Service",
            "Ingress", "NetworkPolicy", "ExternalSecret", "CronJob",
            "ValidatingAdmissionPolicy"} <= kinds
    problems = [p for name, obj in objects for p in object_problems(obj, name)]
    assert problems == []


def test_the_schema_check_catches_mistakes() -> None:
    deploy = next(o for _, o in shipped_objects() if o["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deploy))
    broken["spec"]["replicaz"] = 2
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {}
    del broken["spec"]["template"]["spec"]["containers"][0]["name"]
    problems = object_problems(broken, "broken.yaml")
    assert any("spec.replicaz: unknown field" in p for p in problems)
    assert any("resources.limit: unknown field" in p for p in problems)
    assert any("`name`, must not be `None`" in p for p in problems)


def test_helm_values_use_only_chart_keys() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL
    for path, allowed in CHART_SECTIONS.items():
        node: Any = values
        for key in path:
            node = (node or {}).get(key)
        if node is None:
            continue
        assert set(node) <= allowed, (path, set(node) - allowed)
    deployments = values["dagster-user-deployments"]["deployments"]
    for d in deployments:
        assert set(d) <= USER_DEPLOYMENT_KEYS, set(d) - USER_DEPLOYMENT_KEYS
    (code,) = deployments
    assert code["dagsterApiGrpcArgs"] == ["-m", "platform_assets.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    # The run limits and pools: tests/unit/test_helm_values.py renders and checks them.
    cluster_limit = {"key": "platform-ops/cluster", "value": {"applyLimitPerUniqueValue": True},
                     "limit": 1}
    assert cluster_limit in values["concurrency"]["runs"]["tagConcurrencyLimits"]
    assert values["ingress"]["enabled"] is False  # only the authenticating proxy is exposed
    assert values["dagsterWebserver"]["enableReadOnly"] is True


def test_helm_values_kubernetes_fragments_match_the_schemas() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (code,) = values["dagster-user-deployments"]["deployments"]
    fragments = [
        (launcher["runK8sConfig"]["podSpecConfig"], "V1PodSpec", "runK8sConfig.podSpecConfig"),
        (launcher["runK8sConfig"]["jobSpecConfig"], "V1JobSpec", "runK8sConfig.jobSpecConfig"),
        (launcher["resources"], "V1ResourceRequirements", "k8sRunLauncher.resources"),
        (launcher["securityContext"], "V1SecurityContext", "k8sRunLauncher.securityContext"),
    ]
    fragments += [(init, "V1Container", f"initContainers[{init['name']}]")
                  for init in code["initContainers"]]
    fragments += [(vol, "V1Volume", "volumes") for vol in code["volumes"]]
    for section in (values["dagsterWebserver"], values["dagsterDaemon"], code):
        fragments += [(section["podSecurityContext"], "V1PodSecurityContext", "pod"),
                      (section["securityContext"], "V1SecurityContext", "container"),
                      (section["resources"], "V1ResourceRequirements", "resources")]
    problems = [p for value, model, where in fragments
                for p in schema_problems(value, model, where)]
    assert problems == []


def test_dagster_yaml_files_are_valid_instance_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._config import Shape, process_config
    from dagster._core.instance.config import dagster_instance_config_schema

    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB",
                "DAGSTER_JOB_NAMESPACE", "DAGSTER_HOME"):
        monkeypatch.setenv(key, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    schema = dagster_instance_config_schema()

    for name in ("dagster.yaml", "dagster.local.yaml"):
        data = yaml.safe_load((DEPLOY / name).read_text())
        result = process_config(Shape(schema), data)
        assert result.success, (name, [e.message for e in result.errors or []])
    prod = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert prod["run_launcher"]["class"] == "K8sRunLauncher"
    assert prod["run_launcher"]["config"]["service_account_name"] == "platform-ops-runner"
    cluster_limit = {"key": "platform-ops/cluster", "value": {"applyLimitPerUniqueValue": True},
                     "limit": 1}
    assert cluster_limit in prod["concurrency"]["runs"]["tag_concurrency_limits"]
    assert prod["concurrency"]["pools"]["default_limit"] == 1


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[dict[str, str]]:
    if not os.path.exists(KUBECTL):
        missing_service(f"{KUBECTL} is missing: install kubectl to validate manifests "
                        "server-side")
    from sandbox.http import serve
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World())
    # The deployment goes into a cluster the platform runs: external-secrets at the example
    # spec's chart version serves the ExternalSecrets of secrets.yaml.
    svc.install_chart("external-secrets", "0.10.7")
    server = serve(svc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    try:
        yield {"kubeconfig": str(kubeconfig), "cache": str(tmp_path / "kube-cache")}
    finally:
        svc.stop()
        server.stop()


def kubectl(kube: dict[str, str], *args: str,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", kube["kubeconfig"], "--cache-dir",
                           kube["cache"], *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


def test_manifests_pass_server_side_dry_run(kube: dict[str, str]) -> None:
    # The namespaces exist before anything is applied into them (docs/production.md, step 1).
    namespaces = [o for _, o in shipped_objects() if o["kind"] == "Namespace"]
    done = kubectl(kube, "apply", "--server-side", "-f", "-",
                   stdin=yaml.safe_dump_all(namespaces))
    assert done.returncode == 0, done.stderr

    checked = 0
    for path in sorted(MANIFESTS.glob("*.yaml")):
        result = kubectl(kube, "apply", "--dry-run=server", "--server-side", "-f", str(path))
        assert result.returncode == 0, f"{path.name}: {result.stderr}"
        expected = [o for o in yaml.safe_load_all(path.read_text()) if o]
        lines = [ln for ln in result.stdout.splitlines() if "(server dry run)" in ln]
        assert len(lines) == len(expected), result.stdout
        checked += len(lines)
    assert checked > 30

    # A dry run writes nothing.
    missing = kubectl(kube, "get", "serviceaccount", "platform-ops-runner", "-n", "dagster")
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_server_side_dry_run_rejects_what_the_api_would(kube: dict[str, str]) -> None:
    wrong_namespace = ("apiVersion: v1\nkind: ServiceAccount\n"
                       "metadata: {name: x, namespace: no-such-namespace}\n")
    result = kubectl(kube, "apply", "--dry-run=server", "--server-side", "-f", "-",
                     stdin=wrong_namespace)
    assert result.returncode != 0 and "not found" in result.stderr
    unknown_kind = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n"
    # --validate=false: what is checked here is the server's answer to an unknown kind, not
    # kubectl's client-side schema (test_sandbox_k8s_protobuf.py covers that).
    result = kubectl(kube, "apply", "--dry-run=server", "--server-side", "--validate=false",
                     "-f", "-", stdin=unknown_kind)
    assert result.returncode != 0
    assert "Widget" in result.stderr or "could not find the requested resource" in result.stderr


DIGEST = re.compile(r"^[a-z0-9.\-/:]+@sha256:[0-9a-f]{64}$")
# The release fills these in (docs/security.md, "Images"); it cannot be pulled, so a deploy
# that forgot fails closed.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def _images() -> list[tuple[str, str]]:
    """Every image reference deploy/ ships: manifests, Helm values, the Dockerfile's bases."""
    out = [(f"{name}:{o['metadata']['name']}", c["image"]) for name, o in shipped_objects()
           for c in _containers(o)]
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    for d in values["dagster-user-deployments"]["deployments"]:
        out.append((f"values:{d['name']}", f"{d['image']['repository']}:{d['image']['tag']}"))
        out += [(f"values:{d['name']}:{c['name']}", c["image"])
                for c in d.get("initContainers", [])]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    out += [(f"Dockerfile:{m[1]}", m[2]) for m in re.finditer(
        r"^ARG (\w+_IMAGE)=(\S+)$", dockerfile, re.MULTILINE)]
    return out


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
    pod = template.get("spec") or {}
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def test_every_image_is_pinned_by_digest() -> None:
    """Issue 15: images were pinned by tag only (a tag can be moved to other content)."""
    images = _images()
    assert len(images) >= 5 and any(w.startswith("Dockerfile:") for w, _ in images)
    unpinned = [(where, ref) for where, ref in images if not DIGEST.match(ref)]
    assert unpinned == []
    assert "pip install" not in (DEPLOY / "Dockerfile").read_text()  # uv from its image
    # A placeholder digest is allowed only where the file says it is one.
    for path in [*MANIFESTS.glob("*.yaml"), DEPLOY / "helm" / "values.yaml",
                 DEPLOY / "Dockerfile"]:
        text = path.read_text()
        if PLACEHOLDER_DIGEST in text:
            assert "placeholder" in text.lower(), path.name
    # The check fails on a tag-only reference, as the deploy had.
    assert not DIGEST.match("quay.io/oauth2-proxy/oauth2-proxy:v7.7.1")


def _by_namespace(kind: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, o in shipped_objects():
        if o["kind"] == kind:
            out.setdefault(o["metadata"].get("namespace", ""), set()).add(o["metadata"]["name"])
    return out


def test_each_pod_gets_only_the_secrets_it_uses() -> None:
    """Issue 15: every credential was in every pod (code server, run and step pods), runs went
    to the Dagster namespace next to the proxies' secrets, and both proxies shared one cookie
    secret."""
    from platform_assets.names import (
        JOB_SECRETS,
        RUN_NAMESPACE,
        SECRET_COMPUTE_LOGS,
        SECRET_SENSORS,
    )

    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (code,) = values["dagster-user-deployments"]["deployments"]
    assert launcher["jobNamespace"] == RUN_NAMESPACE != "dagster"
    assert launcher["envSecrets"] == []
    assert code["envSecrets"] == [{"name": SECRET_SENSORS}]
    # Runs inherit the code server's config (its checkout); that is only the sensors' Secret.
    secrets = _by_namespace("ExternalSecret")
    assert secrets[RUN_NAMESPACE] == {"dagster-postgresql-secret", SECRET_COMPUTE_LOGS,
                                      *JOB_SECRETS.values()}
    assert not {"oauth2-proxy-admin", "oauth2-proxy-readonly", SECRET_SENSORS} & \
        secrets[RUN_NAMESPACE]
    external = {o["metadata"]["name"]: o for _, o in shipped_objects()
                if o["kind"] == "ExternalSecret"}
    keys = {name: {d["secretKey"] for d in o["spec"]["data"]} for name, o in external.items()}
    assert "IONOS_TOKEN" not in keys[SECRET_SENSORS]
    assert keys["platform-ops-certificates"] == {"IONOS_TOKEN", "AWS_ACCESS_KEY_ID",
                                                 "AWS_SECRET_ACCESS_KEY"}
    assert keys[SECRET_COMPUTE_LOGS] == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    # One Secret, and one cookie secret, per proxy.
    proxies = {o["metadata"]["name"]: o for _, o in shipped_objects()
               if o["kind"] == "Deployment" and "oauth2-proxy" in o["metadata"]["name"]}
    refs = {name: [e["secretRef"]["name"] for c in _containers(o) for e in c["envFrom"]]
            for name, o in proxies.items()}
    assert refs == {"oauth2-proxy-admin": ["oauth2-proxy-admin"],
                    "oauth2-proxy-readonly": ["oauth2-proxy-readonly"]}
    cookies = {name: next(d["remoteRef"]["property"] for d in external[name]["spec"]["data"]
                          if d["secretKey"] == "OAUTH2_PROXY_COOKIE_SECRET") for name in refs}
    assert len(set(cookies.values())) == 2
    # The chart's account may launch Jobs in the run namespace, and nothing more there.
    (role,) = [o for _, o in shipped_objects() if o["kind"] == "Role"
               and o["metadata"]["name"] == "dagster-run-launcher"]
    assert role["metadata"]["namespace"] == RUN_NAMESPACE
    assert not any("secrets" in r["resources"] for r in role["rules"])


def test_default_deny_network_policies_and_alertmanager_is_fenced() -> None:
    from platform_assets.names import RUN_NAMESPACE

    policies = [o for _, o in shipped_objects() if o["kind"] == "NetworkPolicy"]
    deny = {o["metadata"]["namespace"] for o in policies if o["spec"]["podSelector"] == {}
            and set(o["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not o["spec"].get("ingress") and not o["spec"].get("egress")}
    assert deny == {"dagster", RUN_NAMESPACE}
    (am,) = [o for o in policies if o["metadata"]["namespace"] == "observability"]
    assert am["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name":
                                                         "alertmanager"}}
    sources = [f for rule in am["spec"]["ingress"] for f in rule["from"]]
    # Nobody is let in by an empty selector (which would mean: everyone).
    assert all(f for f in sources) and not any(f.get("ipBlock") for f in sources)
    # Nothing may connect to the run and step pods.
    assert not any(o["spec"].get("ingress") for o in policies
                   if o["metadata"]["namespace"] == RUN_NAMESPACE)


def test_postgresql_verifies_the_server_certificate() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    params = values["postgresql"]["postgresqlParams"]
    assert params["sslmode"] == "verify-full" and params["sslrootcert"].endswith("ca.crt")
    mount = {"name": "postgresql-ca", "mountPath": "/etc/dagster/postgresql-ca",
             "readOnly": True}
    (code,) = values["dagster-user-deployments"]["deployments"]
    # Run and step pods get the code server's volumes (includeConfigInLaunchedRuns).
    assert code["includeConfigInLaunchedRuns"]["enabled"] is True
    for section in (values["dagsterWebserver"], values["dagsterDaemon"], code):
        assert mount in section["volumeMounts"]
        assert params["sslrootcert"].startswith(mount["mountPath"] + "/")
    prod = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert prod["storage"]["postgres"]["postgres_db"]["params"]["sslmode"] == "verify-full"

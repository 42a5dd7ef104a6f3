"""The run's ServiceAccount on a sandbox cluster: the account, a kubeconfig with a token of it
(TokenRequest, as the run's Pod gets one projected), and the product's admission policies
installed by the admin, as ``python -m platform_assets rbac`` output is applied at deploy time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from platform_assets.names import RUN_NAMESPACE, RUN_SERVICE_ACCOUNT
from resources.kubernetes import KubernetesResource

RUNNER = f"system:serviceaccount:{RUN_NAMESPACE}:{RUN_SERVICE_ACCOUNT}"


def runner_kubeconfig(admin_kubeconfig: str | Path, out: Path) -> Path:
    """A copy of the admin kubeconfig whose user is the run's ServiceAccount (created with its
    namespace when missing), with a token from the TokenRequest API."""
    admin = config.new_client_from_config(config_file=str(admin_kubeconfig))
    core = client.CoreV1Api(admin)
    for call, body in ((core.create_namespace, {"metadata": {"name": RUN_NAMESPACE}}),
                       (lambda b: core.create_namespaced_service_account(RUN_NAMESPACE, b),
                        {"metadata": {"name": RUN_SERVICE_ACCOUNT}})):
        try:
            call(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    token = core.create_namespaced_service_account_token(
        RUN_SERVICE_ACCOUNT, RUN_NAMESPACE, {"spec": {"expirationSeconds": 3600}}).status.token
    kubeconfig = yaml.safe_load(Path(admin_kubeconfig).read_text())
    for user in kubeconfig["users"]:
        user["user"] = {"token": token}
    out.write_text(yaml.safe_dump(kubeconfig))
    return out


def runner_resource(admin_kubeconfig: str | Path, out: Path) -> KubernetesResource:
    return KubernetesResource(kubeconfig_path=str(runner_kubeconfig(admin_kubeconfig, out)),
                              retry_attempts=2, retry_max_wait_seconds=0.2)


def install(admin: KubernetesResource, manifests: str) -> list[dict[str, Any]]:
    """Apply every object of ``manifests`` (YAML) as the admin; returns them."""
    objects = [d for d in yaml.safe_load_all(manifests) if d]
    for obj in objects:
        admin.apply(obj)
    return objects

"""Where the Kubernetes credentials come from: one story for the CLI and for Dagster runs.

In order, the first that applies:

1. in-cluster, when ``PLATFORM_KUBERNETES_IN_CLUSTER=true`` (the Helm values set it for run pods
   on the platform cluster) or the resource says so;
2. a context the operator named (``PLATFORM_KUBE_CONTEXT``, or the resource's ``context``) of
   ``$KUBECONFIG`` (a list of files, merged as kubectl merges them) or else ``~/.kube/config``;
   a kubeconfig path the resource was given;
3. the spec's managed IONOS cluster (``from_ionos_cluster``, what the CLI and the Definitions
   use): its kubeconfig is fetched from the IONOS API and loaded from memory, never written to a
   file. An ambient ``$KUBECONFIG`` does not override it: a shell that points kubectl at another
   cluster must not make the plan read that cluster; naming a context does;
4. in-cluster when a pod's service account is mounted (as dagster-k8s detects it);
5. ``$KUBECONFIG``, else ``~/.kube/config`` when it exists, at its ``current-context``.

``PLATFORM_KUBECONFIG`` (read by earlier versions of the CLI) is refused with what to set instead,
so that an old environment fails loudly instead of quietly talking to another cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
KUBECONFIG_ENV = "KUBECONFIG"
CONTEXT_ENV = "PLATFORM_KUBE_CONTEXT"
IN_CLUSTER_ENV = "PLATFORM_KUBERNETES_IN_CLUSTER"
RETIRED_ENV = "PLATFORM_KUBECONFIG"

Kind = Literal["in-cluster", "kubeconfig", "ionos"]


class KubeconfigError(ValueError):
    """No usable Kubernetes credentials; the message says what to set."""


@dataclass(frozen=True)
class KubeSource:
    """The chosen source: ``paths`` for a kubeconfig, ``context`` when one is named."""

    kind: Kind
    paths: tuple[str, ...] = ()
    context: str | None = None

    def describe(self) -> str:
        """Where the cluster's credentials come from, for messages."""
        if self.kind == "kubeconfig":
            where = os.pathsep.join(self.paths)
            return f"kubeconfig {where}, context {self.context or '(current-context)'}"
        return "the pod's service account (in-cluster)" if self.kind == "in-cluster" else \
            "the spec's IONOS cluster (kubeconfig from the IONOS API, in memory)"


def _flag(value: str | None) -> bool | None:
    text = (value or "").strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    return None


def default_kubeconfig(environ: Mapping[str, str]) -> Path:
    """``~/.kube/config`` as kubectl finds it (``$HOME`` first)."""
    return Path(environ.get("HOME") or Path.home()) / ".kube" / "config"


def _chosen(forced: bool | None, path: str | None, context: str | None,
            ambient: tuple[str, ...], env: Mapping[str, str]) -> KubeSource | None:
    """What the operator chose explicitly (steps 1 and 2), or None."""
    if forced:
        return KubeSource("in-cluster")
    if context:
        paths = (path,) if path else ambient
        return KubeSource("kubeconfig", paths or (str(default_kubeconfig(env)),), context)
    if path:
        return KubeSource("kubeconfig", (path,))
    return None


def choose(*, kubeconfig_path: str | None = None, context: str | None = None,
           in_cluster: bool | None = None, from_ionos_cluster: bool = False,
           environ: Mapping[str, str] | None = None,
           token_mounted: Callable[[], bool] = IN_CLUSTER_TOKEN.exists) -> KubeSource:
    """The source of the Kubernetes credentials (the module docstring gives the order).

    Raises:
        KubeconfigError: ``PLATFORM_KUBECONFIG`` is set, or no source applies.
    """
    env = os.environ if environ is None else environ
    if env.get(RETIRED_ENV):
        raise KubeconfigError(
            f"{RETIRED_ENV} is no longer read: to use that kubeconfig instead of the spec's IONOS "
            f"cluster, set {KUBECONFIG_ENV}={env[RETIRED_ENV]} and {CONTEXT_ENV} to one of its "
            f"contexts (as kubectl --context); to use the IONOS cluster, unset {RETIRED_ENV}")
    forced = in_cluster if in_cluster is not None else _flag(env.get(IN_CLUSTER_ENV))
    ambient = tuple(p for p in (env.get(KUBECONFIG_ENV) or "").split(os.pathsep) if p)
    chosen = _chosen(forced, kubeconfig_path, context or env.get(CONTEXT_ENV) or None, ambient,
                     env)
    if chosen is not None:
        return chosen
    if from_ionos_cluster:
        return KubeSource("ionos")
    if forced is None and env.get("KUBERNETES_SERVICE_HOST") and token_mounted():
        return KubeSource("in-cluster")
    if ambient:
        return KubeSource("kubeconfig", ambient)
    home = default_kubeconfig(env)
    if home.exists():
        return KubeSource("kubeconfig", (str(home),))
    raise KubeconfigError(
        f"no Kubernetes credentials: set {KUBECONFIG_ENV} (and {CONTEXT_ENV}), create "
        f"{home}, run in a pod with a service account, or use the spec's IONOS cluster")


def load(source: KubeSource, cfg: Any, ionos_kubeconfig: Callable[[], dict[str, Any]]) -> None:
    """Fill the ``kubernetes.client.Configuration`` ``cfg`` from ``source``.

    Raises:
        KubeconfigError: a kubeconfig file is missing, or the context is not in it.
    """
    from kubernetes import config

    if source.kind == "in-cluster":
        config.load_incluster_config(client_configuration=cfg)
        return
    if source.kind == "ionos":
        config.load_kube_config_from_dict(ionos_kubeconfig(), client_configuration=cfg)
        return
    missing = [p for p in source.paths if not Path(p).expanduser().exists()]
    if len(missing) == len(source.paths):
        raise KubeconfigError(f"kubeconfig {os.pathsep.join(missing)} does not exist: set "
                              f"{KUBECONFIG_ENV} to an existing file")
    try:
        config.load_kube_config(config_file=os.pathsep.join(source.paths),
                                context=source.context, client_configuration=cfg)
    except config.ConfigException as exc:
        # The client's message; it names the missing key or context, never a credential.
        raise KubeconfigError(f"{source.describe()}: {exc}") from None

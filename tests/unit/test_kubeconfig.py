"""One kubeconfig story for the CLI and Dagster: the order of the sources, a named context of
~/.kube/config, the IONOS cluster's kubeconfig loaded from memory, PLATFORM_KUBECONFIG retired."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from resources.kubeconfig import KubeconfigError, KubeSource, choose, load
from resources.kubernetes import KubernetesResource

TOKEN = "kube-token-never-on-disk"


def kubeconfig(*contexts: str, current: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": c, "cluster": {"server": f"https://{c}.example:6443"}}
                     for c in contexts],
        "users": [{"name": c, "user": {"token": f"{TOKEN}-{c}"}} for c in contexts],
        "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts],
        "current-context": current or contexts[0],
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def never() -> bool:
    return False


@pytest.mark.parametrize(("env", "kwargs", "expected"), [
    ({"PLATFORM_KUBERNETES_IN_CLUSTER": "true", "PLATFORM_KUBE_CONTEXT": "x"},
     {"from_ionos_cluster": True}, KubeSource("in-cluster")),
    ({"PLATFORM_KUBE_CONTEXT": "x", "KUBECONFIG": "/a:/b"}, {"from_ionos_cluster": True},
     KubeSource("kubeconfig", ("/a", "/b"), "x")),
    ({"PLATFORM_KUBE_CONTEXT": "x"}, {"from_ionos_cluster": True},
     KubeSource("kubeconfig", ("/home/ops/.kube/config",), "x")),
    ({}, {"kubeconfig_path": "/k", "from_ionos_cluster": True}, KubeSource("kubeconfig", ("/k",))),
    # An ambient KUBECONFIG does not replace the spec's cluster: only a named context does.
    ({"KUBECONFIG": "/a"}, {"from_ionos_cluster": True}, KubeSource("ionos")),
    ({"KUBECONFIG": "/a"}, {}, KubeSource("kubeconfig", ("/a",))),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBECONFIG": "/a"}, {}, KubeSource("in-cluster")),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "PLATFORM_KUBERNETES_IN_CLUSTER": "false",
      "KUBECONFIG": "/a"}, {}, KubeSource("kubeconfig", ("/a",))),
], ids=["forced-in-cluster", "context-of-KUBECONFIG", "context-of-home", "explicit-path",
        "spec-cluster-over-ambient", "KUBECONFIG", "detected-in-cluster", "detection-off"])
def test_the_first_source_that_applies_wins(env: dict[str, str], kwargs: dict[str, Any],
                                            expected: KubeSource) -> None:
    env = {"HOME": "/home/ops", **env}
    assert choose(environ=env, token_mounted=lambda: True, **kwargs) == expected


def test_home_kubeconfig_is_the_last_resort(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(KubeconfigError, match="no Kubernetes credentials: set KUBECONFIG"):
        choose(environ=env, token_mounted=never)
    home = write(tmp_path / ".kube" / "config", kubeconfig("a"))
    assert choose(environ=env, token_mounted=never) == KubeSource("kubeconfig", (str(home),))


def test_platform_kubeconfig_is_retired_with_what_to_set_instead() -> None:
    with pytest.raises(KubeconfigError) as err:
        choose(environ={"PLATFORM_KUBECONFIG": "/old"}, from_ionos_cluster=True)
    assert str(err.value).startswith("PLATFORM_KUBECONFIG is no longer read: ")
    assert "KUBECONFIG=/old and PLATFORM_KUBE_CONTEXT" in str(err.value)


def test_only_home_kubeconfig_and_a_context(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The resource the CLI and Dagster build (from_ionos_cluster) reads ~/.kube/config at the
    named context, not its current one."""
    write(tmp_path / ".kube" / "config", kubeconfig("dev", "prod", current="dev"))
    for name in ("KUBECONFIG", "PLATFORM_KUBECONFIG", "PLATFORM_KUBERNETES_IN_CLUSTER",
                 "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PLATFORM_KUBE_CONTEXT", "prod")
    client = KubernetesResource(from_ionos_cluster=True, cluster_name="c").api_client()
    assert client.configuration.host == "https://prod.example:6443"
    assert client.configuration.api_key["BearerToken"] == f"Bearer {TOKEN}-prod"


def test_an_unknown_context_is_named(tmp_path: Path) -> None:
    from kubernetes import client

    path = write(tmp_path / "config", kubeconfig("dev"))
    with pytest.raises(KubeconfigError) as err:
        load(KubeSource("kubeconfig", (str(path),), "nope"), client.Configuration(), dict)
    assert str(err.value).startswith(f"kubeconfig {path}, context nope: ")
    assert "nope" in str(err.value).split(": ", 1)[1]
    with pytest.raises(KubeconfigError, match="does not exist"):
        load(KubeSource("kubeconfig", (str(tmp_path / "missing"),)), client.Configuration(), dict)


def test_the_ionos_kubeconfig_is_loaded_from_memory_and_never_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(os.listdir(tmp_path))
    config = kubeconfig("ionos")
    config["clusters"][0]["cluster"]["certificate-authority-data"] = "Y2EtY2VydA=="  # "ca-cert"
    cfg = client.Configuration()
    load(KubeSource("ionos"), cfg, lambda: config)
    assert cfg.host == "https://ionos.example:6443"
    assert cfg.api_key["BearerToken"] == f"Bearer {TOKEN}-ionos"
    # The client writes the CA certificate (public) to a file for urllib3; nothing that holds
    # the token is ever on disk.
    for name in set(os.listdir(tmp_path)) - before:
        assert TOKEN not in (tmp_path / name).read_text()

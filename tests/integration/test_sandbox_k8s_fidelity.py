"""Fidelity of the sandbox Kubernetes API to the real server's documented contracts.

Each test names where the real behaviour is documented: the Kubernetes API conventions
(https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md),
the API reference (https://kubernetes.io/docs/reference/), or a client's source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.kubernetes.api import AdmissionRequest, ApiError
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def test_admission_mutates_before_validating_plugins_see_the_object(k8s: Cluster) -> None:
    """Mutating admission runs before validating admission, on every write verb, dry runs too.

    Source: https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/
    ("the mutating phase runs first, then the validating phase").
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    seen: list[tuple[str, str, bool]] = []

    def add_label(req: AdmissionRequest) -> None:
        if req.obj is not None and req.rt.kind == "ConfigMap":
            req.obj["metadata"].setdefault("labels", {})["injected"] = "yes"

    def deny_forbidden(req: AdmissionRequest) -> None:
        seen.append((req.operation, req.name, req.dry_run))
        obj = req.obj if req.obj is not None else req.old
        assert obj is not None
        if req.obj is not None:
            assert req.obj["metadata"]["labels"]["injected"] == "yes"
        if (obj.get("data") or {}).get("forbidden"):
            raise ApiError(403, "Forbidden", f'admission webhook "deny.example" denied the '
                           f'request: {req.name} is protected')

    k8s.svc.api.mutating_admission.append(add_label)
    k8s.svc.api.validating_admission.append(deny_forbidden)
    v1 = client.CoreV1Api(k8s.api_client())
    made = v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert made.metadata.labels == {"injected": "yes"}
    v1.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}}, dry_run="All")
    with pytest.raises(ApiException) as exc:
        v1.patch_namespaced_config_map("a", "default", {"data": {"forbidden": "1"}})
    assert exc.value.status == 403 and "deny.example" in exc.value.body
    assert ("CREATE", "a", False) in seen and ("UPDATE", "a", True) in seen
    v1.delete_namespaced_config_map("a", "default")
    assert ("DELETE", "a", False) in seen
    assert v1.list_namespaced_config_map("default").items == []

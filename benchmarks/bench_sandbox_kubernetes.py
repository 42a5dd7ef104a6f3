"""What the sandbox Kubernetes API costs per request, measured with the kubernetes Python client.

Run: ``.venv/bin/python benchmarks/bench_sandbox_kubernetes.py``. The emulator runs in its own
process (as in ``python -m sandbox up``), so client and server do not share a GIL.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

N_OBJECTS = 1000
N_LISTS = 20
N_APPLIES = 200


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    from kubernetes import client, config
    from kubernetes.dynamic import DynamicClient

    tmp = Path(tempfile.mkdtemp(prefix="bench-k8s-"))
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.kubernetes", "--kubeconfig",
                             str(kubeconfig)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        api = config.new_client_from_config(config_file=str(kubeconfig))
        v1 = client.CoreV1Api(api)
        rows: list[tuple[str, int, list[float]]] = []
        counter = iter(range(N_OBJECTS))

        def create() -> None:
            i = next(counter)
            v1.create_namespaced_config_map("default", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"cm-{i:04d}", labels={"bench": "yes"}),
                data={"key": "x" * 100}))

        rows.append(("create ConfigMap (typed POST)", N_OBJECTS, timed(create, N_OBJECTS)))
        rows.append((f"list {N_OBJECTS} ConfigMaps (typed)", N_LISTS,
                     timed(lambda: v1.list_namespaced_config_map("default"), N_LISTS)))
        rows.append((f"list {N_OBJECTS} ConfigMaps (raw JSON)", N_LISTS, timed(
            lambda: v1.list_namespaced_config_map("default", _preload_content=False).data,
            N_LISTS)))
        dyn = DynamicClient(api, cache_file=str(tmp / "discovery.json"))
        res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        apply_counter = iter(range(N_APPLIES * 2))

        def body(i: int) -> dict[str, object]:
            return {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": f"app-{i % N_APPLIES:03d}", "namespace": "default",
                                 "labels": {"app": "bench"}},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "bench"}},
                             "template": {"metadata": {"labels": {"app": "bench"}},
                                          "spec": {"containers": [{"name": "c", "image": "i",
                                                                   "env": [{"name": "A",
                                                                            "value": "1"}]}]}}}}

        def ssa() -> None:
            i = next(apply_counter)
            res.server_side_apply(body=body(i), name=f"app-{i % N_APPLIES:03d}",
                                  namespace="default", field_manager="bench")

        rows.append(("server-side apply Deployment (create)", N_APPLIES, timed(ssa, N_APPLIES)))
        rows.append(("server-side apply Deployment (no-op)", N_APPLIES, timed(ssa, N_APPLIES)))
        print(f"{'request':42} {'n':>5} {'mean ms':>9} {'p50 ms':>8} {'p95 ms':>8}")
        figures: dict[str, dict[str, float]] = {}
        for name, n, samples in rows:
            ms = sorted(s * 1000 for s in samples)
            p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
            print(f"{name:42} {n:>5} {statistics.mean(ms):>9.2f} {statistics.median(ms):>8.2f} "
                  f"{p95:>8.2f}")
            figures[name] = {"n": n, "mean_ms": round(statistics.mean(ms), 3),
                             "p50_ms": round(statistics.median(ms), 3), "p95_ms": round(p95, 3)}
        # The last line: the figures as one JSON object (request -> n, mean_ms, p50_ms, p95_ms).
        print(json.dumps(figures))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A no-op reconcile of 50 components (500 objects) against `kubectl apply --server-side`; the
same at a real API server's distance (the sandbox's latency fault, 30 ms per request) with 500
components / 5,000 objects against `kubectl apply --server-side` and `kubectl diff
--server-side` (a server-side dry-run apply of every object, which is what Flux and
`kubectl diff` do to find drift); and the code location's load time against a bare
`import dagster`.

Run: ``.venv/bin/python benchmarks/bench_reconcile.py [--results benchmarks/RESULTS.md]
[--only latency|load|accounts] [--instructions]``. ``accounts`` is the no-op at 30 ms as the
cluster admin and as the run account (``platform-ops-runner`` with only the RBAC derived from
the spec, which reads Secrets by name), without kubectl: wall and CPU seconds and API calls.
``--instructions`` also counts the instructions each
load case executes under valgrind (cachegrind), from source and from bytecode: unlike CPU
seconds, the same on a busy machine as on a quiet one, so small changes can be compared. The
sandbox runs in its own process (``python -m sandbox up``), so neither side shares its GIL; API
calls are counted by the sandbox's admin API (``GET /requests``). kubectl applies the very
objects the engine applies, under the same field manager, so both are true no-ops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMPONENTS = 50
OBJECTS_PER_COMPONENT = 10
PODS_PER_COMPONENT = 2  # the Deployment's replicas in component_objects
LOAD_COMPONENTS = 500
LATENCY_COMPONENTS = 500
LATENCY_MS = 30
MARK_BEGIN, MARK_END = "<!-- bench_reconcile:begin -->", "<!-- bench_reconcile:end -->"


def component_objects(i: int) -> list[dict[str, Any]]:
    """Ten objects of five kinds for component ``i`` in its own namespace."""
    ns, app = f"bench-{i:03d}", f"app-{i:03d}"
    labels = {"app.kubernetes.io/name": app}
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": app}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                 "targetPort": 8080}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app,
                                                                     "labels": labels},
         "spec": {"replicas": PODS_PER_COMPONENT, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": app,
                      "containers": [{"name": "web", "image": f"example/{app}:1.0",
                                      "ports": [{"containerPort": 8080}]}]}}}},
    ]
    for j in range(5):
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{app}-config-{j}"},
                     "data": {"key": f"value-{j}", "settings.yaml": "a: 1\nb: [2, 3]\n"}})
    for j in range(2):
        objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{app}-s{j}"},
                     "type": "Opaque", "stringData": {"token": f"not-a-secret-{j}"}})
    assert len(objs) == OBJECTS_PER_COMPONENT
    for o in objs:
        o["metadata"]["namespace"] = ns
    return objs


def example_infrastructure() -> dict[str, Any]:
    """The example's ``ionos`` section without its network edge (IP blocks, load balancers,
    DNS), which fronts the example's ingress component: generated specs have none."""
    ionos = dict(yaml.safe_load((ROOT / "platform" / "platform.yaml").read_text())["ionos"])
    for key in ("ip_blocks", "load_balancers", "dns"):
        ionos.pop(key, None)
    return ionos


def cluster_infrastructure(pods: int) -> dict[str, Any]:
    """The example's datacenter, LAN, cluster and one node pool sized for ``pods`` pods at the
    110 a node allows (kubelet's default maxPods, which the sandbox's scheduler enforces), with
    room for one more node's worth; no databases or buckets."""
    ionos = example_infrastructure()
    pool = dict(ionos["node_pools"][0])
    nodes = pods // 110 + 2
    pool["node_count"] = nodes
    pool["autoscaling"] = {"min_node_count": nodes, "max_node_count": nodes}
    return {k: ionos[k] for k in ("datacenter", "lans", "cluster")} | {"node_pools": [pool]}


def provision(graph: Any, env: dict[str, str]) -> None:
    """Reconcile the spec's infrastructure (the managed cluster and its node pool) so the
    sandbox cluster has the nodes the components' pods are scheduled on."""
    from platform_assets.engine.reconcile import Engine
    from resources.ionos import IonosCloudResource

    ionos = IonosCloudResource(token=env["IONOS_TOKEN"], api_url=env["IONOS_API_URL"])
    engine = Engine(graph.spec, graph.base_dir, ionos=ionos)
    for node in graph.topological():
        if node.kind != "component":
            engine.reconcile(node)


def write_spec(directory: Path, n: int, with_objects: bool) -> Path:
    """A spec with ``n`` generated components: on the example's infrastructure (to be loaded),
    or with objects, on a cluster whose node pool holds their pods (to be reconciled)."""
    components = []
    for i in range(n):
        path = directory / "manifests" / f"c{i:03d}"
        path.mkdir(parents=True, exist_ok=True)
        objs = component_objects(i) if with_objects else component_objects(i)[:1]
        (path / "objects.yaml").write_text(yaml.safe_dump_all(objs))
        components.append({"name": f"component-{i:03d}", "namespace": f"bench-{i:03d}",
                           "source": {"manifests": {"path": f"manifests/c{i:03d}"}},
                           "health_timeout": "2m"})
    spec = {"apiVersion": "platform-ops/v1", "metadata": {"name": "bench"},
            "ionos": (cluster_infrastructure(n * PODS_PER_COMPONENT) if with_objects
                      else example_infrastructure()),
            "platform": components}
    out = directory / "platform.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def counts(admin: str) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(admin + "/requests", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def reset_counts(admin: str) -> None:
    urllib.request.urlopen(urllib.request.Request(admin + "/requests", method="DELETE"),
                           timeout=10).close()


def k8s_calls(c: dict[str, dict[str, int]]) -> dict[str, int]:
    return {m: n for m, n in c.get("kubernetes", {}).items() if n}


def start_sandbox(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    tmp.mkdir(parents=True, exist_ok=True)
    env_file = tmp / "sandbox.env"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--env-file", str(env_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the sandbox did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return proc, env


@dataclass(frozen=True)
class Bench:
    """A sandbox in its own process with a spec of generated components on it."""

    admin: str  # the sandbox's admin API
    env: dict[str, str]  # the sandbox's environment (KUBECONFIG, IONOS_API_URL, ...)
    spec_path: Path
    graph: Any
    nodes: list[Any]  # the components, in dependency order


@contextmanager
def provisioned(spec_dir: Path, sandbox_dir: Path, n: int) -> Iterator[Bench]:
    """A sandbox started in ``sandbox_dir`` with a spec of ``n`` components with objects
    written to ``spec_dir``, its infrastructure reconciled; stopped on leaving."""
    from platform_assets.spec.loader import load_graph

    spec_path = write_spec(spec_dir, n, with_objects=True)
    proc, env = start_sandbox(sandbox_dir)
    try:
        graph = load_graph(spec_path)
        provision(graph, env)
        yield Bench(env["SANDBOX_ADMIN_URL"].rstrip("/"), env, spec_path, graph,
                    [node for node in graph.topological() if node.kind == "component"])
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@dataclass(frozen=True)
class Run:
    """One reconcile of every component of a ``Bench``."""

    wall_s: float
    cpu_s: float  # this process's, every thread
    calls: dict[str, int]  # Kubernetes API calls by method
    writes: int
    lists: int  # the run's lists (pages excepted)


def reconcile_all(bench: Bench, k8s: Any, expect: bool = False) -> Run:
    """Every component reconciled as a run in a new process does it: its own engine, every
    manifest parsed anew, in dependency order on the reconcile op's threads; ``expect``: told
    its selection first, as the reconcile op tells it."""
    from platform_assets.core.manifests import forget_parsed
    from platform_assets.engine.reconcile import Engine
    from platform_assets.runs.reconcile import MAX_PARALLEL, run_in_order

    forget_parsed()
    engine = Engine(bench.graph.spec, bench.graph.base_dir, kubernetes=k8s)
    if expect:
        engine.expect(bench.nodes)
    reset_counts(bench.admin)
    start, cpu = time.perf_counter(), time.process_time()
    done = list(run_in_order(bench.nodes, engine.reconcile, MAX_PARALLEL))
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(err is None for _, _, err in done), [e for _, _, e in done if e][:3]
    return Run(took, cpu, k8s_calls(counts(bench.admin)),
               sum(o.writes for _, o, _ in done if o is not None), engine.runtime.view().lists)


def bench_noop(tmp: Path) -> dict[str, Any]:
    from platform_assets.core import desired
    from platform_assets.core.manifests import forget_parsed
    from platform_assets.engine.reconcile import Engine
    from platform_assets.names import FIELD_MANAGER
    from platform_assets.runs.reconcile import MAX_PARALLEL, run_in_order
    from resources.kubernetes import KubernetesResource

    with provisioned(tmp / "spec50", tmp, COMPONENTS) as bench:
        admin, env, graph, nodes = bench.admin, bench.env, bench.graph, bench.nodes
        k8s = KubernetesResource(kubeconfig_path=env["KUBECONFIG"])
        engine = Engine(graph.spec, graph.base_dir, kubernetes=k8s)
        for n in nodes:  # create everything
            engine.reconcile(n)
        # kubectl gets exactly what the engine applied, under the same field manager.
        applied = tmp / "applied.yaml"
        docs = []
        for n in nodes:
            comp = graph.spec.component(n.name)
            objs = desired.component_objects(comp, engine.component_manifests(comp))
            docs.extend(objs.objects)
        applied.write_text(yaml.safe_dump_all(docs))
        n_objects = len(docs)

        def ours(parallel: int = MAX_PARALLEL) -> tuple[float, dict[str, int], int]:
            """As the reconcile op runs them: dependency order, ``parallel`` threads, every
            manifest parsed anew (as in a run's new process)."""
            forget_parsed()
            reset_counts(admin)
            start = time.perf_counter()
            done = list(run_in_order(nodes, engine.reconcile, parallel))
            took = time.perf_counter() - start
            assert all(err is None for _, _, err in done), [e for _, _, e in done if e]
            return took, k8s_calls(counts(admin)), sum(o.writes for _, o, _ in done)

        cache = tmp / "kubectl-cache"
        kenv = {**os.environ, "KUBECONFIG": env["KUBECONFIG"]}

        def kubectl() -> tuple[float, dict[str, int]]:
            reset_counts(admin)
            start = time.perf_counter()
            subprocess.run(["kubectl", "apply", "--server-side", "--field-manager",
                            FIELD_MANAGER, "--cache-dir", str(cache), "-f",
                            str(applied)], env=kenv, check=True, stdout=subprocess.DEVNULL)
            took = time.perf_counter() - start
            return took, k8s_calls(counts(admin))

        kubectl()  # warm kubectl's discovery cache, as a CI runner that applied before would be
        ours()     # and the engine's discovery (per process, like a run worker)
        rounds = 5
        ours_runs, seq_runs, kubectl_runs = [], [], []
        for _ in range(rounds):  # interleaved, so load from other work hits all alike
            ours_runs.append(ours())
            seq_runs.append(ours(1))
            kubectl_runs.append(kubectl())
        return {
            "objects": n_objects, "components": len(nodes), "rounds": rounds,
            "ours_s": statistics.median(r[0] for r in ours_runs),
            "ours_seq_s": statistics.median(r[0] for r in seq_runs),
            "ours_calls": ours_runs[-1][1],
            "ours_writes": sum(r[2] for r in ours_runs + seq_runs),
            "kubectl_s": statistics.median(r[0] for r in kubectl_runs),
            "kubectl_calls": kubectl_runs[-1][1],
            "namespaces": len({d["metadata"].get("namespace") for d in docs}),
            "kinds_per_ns": len({d["kind"] for d in docs if d["metadata"].get("namespace")
                                 == "bench-000"}),
        }


def _timed_kubectl(admin: str, args: list[str], env: dict[str, str],
                   ok: tuple[int, ...] = (0,)) -> tuple[float, dict[str, int]]:
    reset_counts(admin)
    start = time.perf_counter()
    proc = subprocess.run(["kubectl", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"kubectl {' '.join(args[:3])} failed: {proc.stderr[-500:]}")
    return took, k8s_calls(counts(admin))


def bench_latency(tmp: Path, rounds: int = 3) -> dict[str, Any]:
    """A no-op reconcile of 500 components / 5,000 objects with the API 30 ms away, against
    kubectl applying and diffing (server-side dry run) the same objects."""
    from platform_assets.core import desired
    from platform_assets.engine.reconcile import Engine
    from platform_assets.names import FIELD_MANAGER
    from resources.kubernetes import KubernetesResource
    from sandbox.admin import AdminClient

    with provisioned(tmp / "spec-latency", tmp / "sandbox-latency",
                     LATENCY_COMPONENTS) as bench:
        admin, env, graph, nodes = bench.admin, bench.env, bench.graph, bench.nodes
        k8s = KubernetesResource(kubeconfig_path=env["KUBECONFIG"])
        reconcile_all(bench, k8s)  # create everything, at the sandbox's own speed
        docs = []
        for n in nodes:
            comp = graph.spec.component(n.name)
            docs.extend(desired.component_objects(
                comp, Engine(graph.spec, graph.base_dir).component_manifests(comp)).objects)
        applied = tmp / "applied-latency.yaml"
        applied.write_text(yaml.safe_dump_all(docs))
        AdminClient(admin).set_fault("kubernetes", latency_ms=LATENCY_MS)
        kenv = {**os.environ, "KUBECONFIG": env["KUBECONFIG"]}
        common = ["--cache-dir", str(tmp / "kubectl-cache-latency"), "-f", str(applied)]
        apply = ["apply", "--server-side", "--field-manager", FIELD_MANAGER, *common]
        diff = ["diff", "--server-side", "--field-manager", FIELD_MANAGER, *common]
        # Warm kubectl's discovery and OpenAPI caches, and the engine's discovery.
        _timed_kubectl(admin, ["get", "namespaces", "--cache-dir",
                               str(tmp / "kubectl-cache-latency")], kenv)
        reconcile_all(bench, k8s)
        ours = [reconcile_all(bench, k8s) for _ in range(rounds)]
        kubectl_apply = _timed_kubectl(admin, apply, kenv)
        kubectl_diff = _timed_kubectl(admin, diff, kenv, ok=(0, 1))
        return {
            "components": len(nodes), "objects": len(docs), "rounds": rounds,
            "latency_ms": LATENCY_MS, "kinds": len({d["kind"] for d in docs}),
            "ours_s": statistics.median(r.wall_s for r in ours),
            "ours_calls": ours[-1].calls, "ours_writes": sum(r.writes for r in ours),
            "ours_lists": ours[-1].lists,
            "apply_s": kubectl_apply[0], "apply_calls": kubectl_apply[1],
            "diff_s": kubectl_diff[0], "diff_calls": kubectl_diff[1],
        }


def bench_accounts(tmp: Path, rounds: int = 3) -> dict[str, Any]:
    """The no-op reconcile of ``bench_latency`` (500 components, 1,000 of their objects
    Secrets, 30 ms per request) as the cluster admin and as the run account: median wall
    seconds, this process's CPU seconds (every thread) and the Kubernetes API calls of a run."""
    from platform_assets.core.rbac import render_rbac
    from resources.kubernetes import KubernetesResource
    from sandbox.admin import AdminClient
    from tests.integration.run_account import install, runner_kubeconfig

    with provisioned(tmp / "spec-accounts", tmp / "sandbox-accounts",
                     LATENCY_COMPONENTS) as bench:
        kubeconfig = bench.env["KUBECONFIG"]
        accounts = {"admin": KubernetesResource(kubeconfig_path=kubeconfig)}
        # Create everything, at the sandbox's own speed.
        reconcile_all(bench, accounts["admin"], expect=True)
        # Deploy time as the admin: the spec's derived RBAC, as ``python -m platform_assets
        # rbac`` renders it.
        install(KubernetesResource(kubeconfig_path=kubeconfig), render_rbac(bench.spec_path))
        accounts["runner"] = KubernetesResource(kubeconfig_path=str(runner_kubeconfig(
            kubeconfig, tmp / "runner-kubeconfig")))
        AdminClient(bench.admin).set_fault("kubernetes", latency_ms=LATENCY_MS)
        out: dict[str, Any] = {"components": len(bench.nodes), "latency_ms": LATENCY_MS,
                               "rounds": rounds}
        for name, k8s in accounts.items():
            # Warm the account's discovery, as a run's first calls do.
            reconcile_all(bench, k8s, expect=True)
            runs = [reconcile_all(bench, k8s, expect=True) for _ in range(rounds)]
            out[name] = {"wall_s": statistics.median(r.wall_s for r in runs),
                         "cpu_s": statistics.median(r.cpu_s for r in runs),
                         "calls": runs[-1].calls, "writes": sum(r.writes for r in runs)}
        return out


def accounts_report(acc: dict[str, Any]) -> list[str]:
    rows = [f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            + ", ".join(f"{m} {n}" for m, n in sorted(r["calls"].items())) + f" | {r['writes']} |"
            for name, r in ((n, acc[n]) for n in ("admin", "runner"))]
    return ["", f"**No-op reconcile by account** ({acc['components']} components, "
            f"{acc['latency_ms']} ms per Kubernetes request; median of {acc['rounds']} runs):",
            "", "| account | wall s | CPU s (ours) | Kubernetes API calls | writes |",
            "|---|---:|---:|---|---:|", *rows]


def latency_report(lat: dict[str, Any]) -> list[str]:
    def calls(c: dict[str, int]) -> str:
        return ", ".join(f"{m} {n}" for m, n in sorted(c.items()))

    to_apply, to_diff = lat["ours_s"] / lat["apply_s"], lat["ours_s"] / lat["diff_s"]
    return [
        "",
        f"**No-op reconcile at a real server's distance** ({lat['latency_ms']} ms added to "
        f"every Kubernetes API request by the sandbox's latency fault), {lat['components']} "
        f"components / {lat['objects']} objects of {lat['kinds']} kinds; ours: median of "
        f"{lat['rounds']} runs, each with a new engine (as each run has); kubectl: one run "
        "each (warm caches):",
        "",
        "| | seconds | Kubernetes API calls |",
        "|---|---:|---|",
        f"| ours (the reconcile op) | {lat['ours_s']:.2f} | {calls(lat['ours_calls'])} |",
        f"| `kubectl apply --server-side` | {lat['apply_s']:.2f} | "
        f"{calls(lat['apply_calls'])} |",
        f"| `kubectl diff --server-side` (dry-run apply of every object) | "
        f"{lat['diff_s']:.2f} | {calls(lat['diff_calls'])} |",
        "",
        f"- ours / kubectl apply: **{to_apply:.3f}**, ours / kubectl diff: **{to_diff:.3f}** "
        f"(goal <= 0.1: {'met' if max(to_apply, to_diff) <= 0.1 else 'NOT met'}); "
        f"ours <= 2 s: {'met' if lat['ours_s'] <= 2 else 'NOT met'}",
        f"- our lists: {lat['ours_lists']} for {lat['kinds']} kinds and the namespaces "
        f"(goal: one per kind, plus pages); writes: **{lat['ours_writes']}** (goal 0)",
    ]


def load_seconds(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of a fresh ``python -c code``. CPU time is
    what the code costs; wall-clock also counts waiting for cores other work holds."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"python -c {code!r} failed (wait status {status})")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


# The two ways a process finds its modules: compiled from source on every start (as with
# PYTHONDONTWRITEBYTECODE=1 and no .pyc anywhere), and from bytecode compiled
# once (what production does: the image builds with UV_COMPILE_BYTECODE=1). Both sides of a
# ratio run in the same mode.
LOAD_MODES = ("source", "bytecode")


def mode_env(env: dict[str, str], mode: str, cache: Path) -> dict[str, str]:
    """``env`` for ``mode``: ``bytecode`` reads and writes .pyc under ``cache`` (a directory of
    this run, warmed by a first start), ``source`` writes none."""
    if mode == "source":  # not even the .pyc that ./dev.sh setup compiles into the venv
        return {**env, "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPYCACHEPREFIX": "/nonexistent/platform-ops-no-bytecode"}
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**out, "PYTHONPYCACHEPREFIX": str(cache)}


def load_rounds(cases: dict[str, tuple[str, dict[str, str]]], rounds: int,
                tmp: Path) -> dict[str, float]:
    """Median wall and CPU seconds of each case in each mode: ``<case>`` and ``<case>_cpu``
    compiled from source, ``<case>_bytecode`` and ``<case>_bytecode_cpu`` from bytecode. The
    rounds are interleaved, so load from other work hits all cases alike."""
    cache = tmp / "pycache"
    runs = {f"{name}{'' if mode == 'source' else '_bytecode'}": (code, mode_env(env, mode, cache))
            for mode in LOAD_MODES for name, (code, env) in cases.items()}
    for name, (code, env) in runs.items():
        if name.endswith("_bytecode"):
            load_seconds(code, env)  # compiles what this case imports into the cache
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, (code, env) in runs.items():
            w, c = load_seconds(code, env)
            wall[name].append(w)
            cpu[name].append(c)
    return {**{k: statistics.median(v) for k, v in wall.items()},
            **{f"{k}_cpu": statistics.median(v) for k, v in cpu.items()}}


LOAD_CODE = ("from platform_assets.definitions import defs; "
             "assert len(defs.get_repository_def().asset_graph.get_all_asset_keys()) > 10")


def load_instructions(code: str, env: dict[str, str], out: Path) -> int:
    """Instructions a fresh ``python -c code`` executes, counted by valgrind's cachegrind
    (``--cache-sim=no``: the count alone). The hash seed is fixed, so a rerun counts the same."""
    proc = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
         sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"valgrind python -c {code!r} failed: {proc.stderr[-500:]}")
    summary = [line for line in out.read_text().splitlines() if line.startswith("summary:")]
    out.unlink()
    return int(summary[0].split()[1])


def instruction_counts(cases: dict[str, tuple[str, dict[str, str]]],
                       tmp: Path) -> dict[str, float]:
    """``<case>_instructions`` (from source) and ``<case>_bytecode_instructions`` of each case,
    in the same two modes as the timed rounds (bytecode: the cache ``load_rounds`` warmed). Two
    at a time: a count does not depend on what else runs."""
    cache = tmp / "pycache"
    runs = {f"{name}{'' if mode == 'source' else '_bytecode'}": (code, mode_env(env, mode, cache))
            for mode in LOAD_MODES for name, (code, env) in cases.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        counted = {name: pool.submit(load_instructions, code, env, tmp / f"cachegrind.{name}")
                   for name, (code, env) in runs.items()}
        return {f"{name}_instructions": float(f.result()) for name, f in counted.items()}


def load_cases(tmp: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """The three load cases: a bare ``import dagster``, the example spec's code location and a
    generated spec's of ``LOAD_COMPONENTS`` components."""
    big = write_spec(tmp / "spec500", LOAD_COMPONENTS, with_objects=False)
    base = {k: v for k, v in os.environ.items() if k != "PLATFORM_SPEC"}
    return {
        "import_dagster": ("import dagster", base),
        "example": (LOAD_CODE, {**base,
                                "PLATFORM_SPEC": str(ROOT / "platform" / "platform.yaml")}),
        "spec500": (LOAD_CODE, {**base, "PLATFORM_SPEC": str(big)}),
    }


def bench_load(tmp: Path, rounds: int = 5, instructions: bool = False) -> dict[str, float]:
    """The timed rounds of every load case and, with ``instructions``, their instruction
    counts (after the timed rounds, which they do not disturb)."""
    cases = load_cases(tmp)
    load = load_rounds(cases, rounds, tmp)
    if instructions:
        load.update(instruction_counts(cases, tmp))
    return load


def load_report(load: dict[str, float]) -> list[str]:
    """The code-location load table (CPU seconds, both modes) and issue 12's goals."""
    rows = (("import_dagster", "`import dagster`"), ("example", "definitions, example spec"),
            ("spec500", f"definitions, generated spec of {LOAD_COMPONENTS} components"))

    def ratio(k: str, suffix: str) -> float:
        return load[f"{k}{suffix}_cpu"] / load[f"import_dagster{suffix}_cpu"]

    return [
        "**Code location load** (a fresh `python -c` building the whole `Definitions`, median of "
        "5, interleaved; CPU is user + system time of the process; from source: every module "
        "compiled on start, as with `PYTHONDONTWRITEBYTECODE=1` and no .pyc; from bytecode: "
        ".pyc compiled once beforehand, as the image builds them):",
        "",
        "| | CPU s, from source | / bare `import dagster` | CPU s, from bytecode | "
        "/ bare `import dagster` | wall s, from source |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {label} | {load[k + '_cpu']:.2f} | {ratio(k, ''):.2f} | "
          f"{load[k + '_bytecode_cpu']:.2f} | {ratio(k, '_bytecode'):.2f} | {load[k]:.2f} |"
          for k, label in rows),
        "",
        "- goals (issue 12, CPU from source): example <= 1.1x "
        f"{'met' if ratio('example', '') <= 1.1 else 'NOT met'}, {LOAD_COMPONENTS} components "
        f"<= 1.3x {'met' if ratio('spec500', '') <= 1.3 else 'NOT met'}; from bytecode: "
        f"{ratio('example', '_bytecode'):.2f}x and {ratio('spec500', '_bytecode'):.2f}x",
        *instructions_report(load, rows),
    ]


def instructions_report(load: dict[str, float], rows: tuple[tuple[str, str], ...]) -> list[str]:
    """The instruction counts and their ratios, when they were measured (``--instructions``)."""
    if "import_dagster_instructions" not in load:
        return []

    def ratio(k: str, suffix: str) -> float:
        return (load[f"{k}{suffix}_instructions"]
                / load[f"import_dagster{suffix}_instructions"])

    return [
        "",
        "Instructions executed by the same processes (valgrind `--tool=cachegrind "
        "--cache-sim=no`, one run each, PYTHONHASHSEED=0; repeatable whatever else runs, so "
        "they compare changes; the goals stay the CPU ratios above):",
        "",
        "| | instructions, from source | / bare `import dagster` | instructions, from "
        "bytecode | / bare `import dagster` |",
        "|---|---:|---:|---:|---:|",
        *(f"| {label} | {load[k + '_instructions'] / 1e9:.3f} G | {ratio(k, ''):.3f} | "
          f"{load[k + '_bytecode_instructions'] / 1e9:.3f} G | {ratio(k, '_bytecode'):.3f} |"
          for k, label in rows),
    ]


def report(noop: dict[str, Any], load: dict[str, float], lat: dict[str, Any]) -> str:
    from platform_assets.runs.reconcile import MAX_PARALLEL

    ratio = noop["ours_s"] / noop["kubectl_s"]
    ours_reads = sum(v for m, v in noop["ours_calls"].items() if m in ("GET",))
    bound = noop["namespaces"] * (noop["kinds_per_ns"] + 1)  # lists + the namespace GET
    fmt = ", ".join(f"{m} {n}" for m, n in sorted(noop["kubectl_calls"].items()))
    lines = [
        MARK_BEGIN,
        "## Reconcile (issue 4, `benchmarks/bench_reconcile.py`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (load average "
        f"{os.getloadavg()[0]:.1f}) on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other work), Python {platform.python_version()}; "
        "the sandbox runs in its own process. Median of "
        f"{noop['rounds']} interleaved rounds after one warm-up each.",
        "",
        f"**No-op reconcile, {noop['components']} components / {noop['objects']} objects** "
        f"({noop['namespaces']} namespaces, {noop['kinds_per_ns']} kinds each):",
        "",
        "| | seconds | Kubernetes API calls |",
        "|---|---:|---|",
        f"| ours (the reconcile op: dependency order, {MAX_PARALLEL} threads) | "
        f"{noop['ours_s']:.2f} | "
        + ", ".join(f"{m} {n}" for m, n in sorted(noop["ours_calls"].items())) + " |",
        f"| ours, one thread | {noop['ours_seq_s']:.2f} | same |",
        f"| `kubectl apply --server-side` (warm `--cache-dir`) | {noop['kubectl_s']:.2f} | "
        f"{fmt} |",
        "",
        f"- ours / kubectl: **{ratio:.2f}** (goal <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})",
        f"- writes by ours over {noop['rounds']} rounds: **{noop['ours_writes']}** (goal 0); "
        "kubectl PATCHes every object every time",
        f"- our reads: {ours_reads}; bound = one list per kind and namespace plus one namespace "
        f"read = {bound} (health comes from the lists: no extra reads when all is healthy) — "
        f"{'met' if ours_reads <= bound else 'NOT met'}",
        *latency_report(lat),
        "",
        *load_report(load),
        MARK_END,
    ]
    return "\n".join(lines)


def write_results(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if MARK_BEGIN in text:
        text = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _m: section,
                      text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=None,
                        help="update this markdown file's reconcile section")
    parser.add_argument("--only", choices=("latency", "load", "accounts"), default=None,
                        help="run only the no-op at 30 ms latency (5,000 objects), only the "
                             "code location's load, or only that no-op as the admin and as "
                             "the run account")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of each load case under valgrind "
                             "(from source and from bytecode; needs valgrind)")
    args = parser.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        print("valgrind is not installed: --instructions counts instructions with it "
              "(Debian/Ubuntu: apt-get install valgrind); run without --instructions for the "
              "timed figures alone")
        return 1
    if args.instructions and args.only == "latency":
        print("--instructions counts the load cases: use it without --only latency")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    if args.only == "accounts":  # needs no kubectl
        try:
            acc = bench_accounts(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("\n".join(accounts_report(acc)))
        print(json.dumps(acc))
        return 0
    if args.only == "load":  # needs neither kubectl nor the sandbox
        try:
            load = bench_load(tmp, instructions=args.instructions)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("\n".join(load_report(load)))
        print(json.dumps(load_figures(load)))
        return 0
    if not shutil.which("kubectl"):
        print("kubectl is not installed: the comparison needs it")
        shutil.rmtree(tmp, ignore_errors=True)
        return 1
    try:
        lat = bench_latency(tmp)
        if args.only == "latency":
            print("\n".join(latency_report(lat)))
            print(json.dumps(latency_figures(lat)))
            return 0
        noop = bench_noop(tmp)
        load = bench_load(tmp, instructions=args.instructions)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section = report(noop, load, lat)
    print(section)
    if args.results:
        write_results(args.results, section)
    # The last line: the figures as one JSON object, for programs.
    print(json.dumps({**figures(noop, load), **latency_figures(lat)}))
    return 0


def latency_figures(lat: dict[str, Any]) -> dict[str, float | int]:
    return {
        "latency_ms": lat["latency_ms"], "latency_components": lat["components"],
        "latency_objects": lat["objects"], "latency_ours_s": round(lat["ours_s"], 3),
        "latency_kubectl_apply_s": round(lat["apply_s"], 3),
        "latency_kubectl_diff_s": round(lat["diff_s"], 3),
        "latency_ours_per_kubectl_apply": round(lat["ours_s"] / lat["apply_s"], 4),
        "latency_ours_per_kubectl_diff": round(lat["ours_s"] / lat["diff_s"], 4),
        "latency_ours_lists": lat["ours_lists"], "latency_ours_writes": lat["ours_writes"],
        "latency_ours_get_requests": lat["ours_calls"].get("GET", 0),
    }


def load_figures(load: dict[str, float]) -> dict[str, float]:
    """The load figures, units in the keys: ``load_<case>[_bytecode]_[cpu_]s`` and the ratios to
    ``import dagster`` (``_bytecode``: both sides from compiled bytecode); with
    ``--instructions`` also ``load_<case>[_bytecode]_instructions`` and their ratios."""
    out: dict[str, float] = {}
    if "import_dagster_instructions" in load:
        for suffix in ("", "_bytecode"):
            for case in ("import_dagster", "example", "spec500"):
                name = case if case != "spec500" else f"spec{LOAD_COMPONENTS}"
                out[f"load_{name}{suffix}_instructions"] = int(
                    load[f"{case}{suffix}_instructions"])
            for case in ("example", "spec500"):
                name = case if case != "spec500" else f"spec{LOAD_COMPONENTS}"
                out[f"load_{name}{suffix}_instructions_per_import_dagster"] = round(
                    load[f"{case}{suffix}_instructions"]
                    / load[f"import_dagster{suffix}_instructions"], 4)
    for suffix in ("", "_bytecode"):
        for case in ("import_dagster", "example", "spec500"):
            name = case if case != "spec500" else f"spec{LOAD_COMPONENTS}"
            out[f"load_{name}{suffix}_s"] = round(load[case + suffix], 3)
            out[f"load_{name}{suffix}_cpu_s"] = round(load[f"{case}{suffix}_cpu"], 3)
        for case in ("example", "spec500"):
            name = case if case != "spec500" else f"spec{LOAD_COMPONENTS}"
            out[f"load_{name}{suffix}_per_import_dagster"] = round(
                load[case + suffix] / load["import_dagster" + suffix], 3)
            out[f"load_{name}{suffix}_cpu_per_import_dagster"] = round(
                load[f"{case}{suffix}_cpu"] / load[f"import_dagster{suffix}_cpu"], 3)
    return out


def figures(noop: dict[str, Any], load: dict[str, float]) -> dict[str, float | int]:
    """The measured figures, units in the keys."""
    return {
        "noop_components": noop["components"], "noop_objects": noop["objects"],
        "noop_ours_s": round(noop["ours_s"], 3), "noop_ours_one_thread_s":
        round(noop["ours_seq_s"], 3), "noop_kubectl_s": round(noop["kubectl_s"], 3),
        "noop_ours_per_kubectl": round(noop["ours_s"] / noop["kubectl_s"], 3),
        "noop_ours_writes": noop["ours_writes"],
        **load_figures(load),
    }


if __name__ == "__main__":
    sys.exit(main())

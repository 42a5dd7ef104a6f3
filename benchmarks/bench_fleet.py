"""A fleet's cost (issue 16): the code location of a generated spec of 20 environments x 50
components loads within 1.5x a bare ``import dagster``; a no-op reconcile of one environment
costs the same whether the spec holds that one environment or twenty (measured side by side).

Run: ``.venv/bin/python benchmarks/bench_fleet.py [--rounds N] [--only load]``. The load is a
fresh ``python -c`` building the whole ``Definitions`` (median of N, interleaved with the
others), in CPU seconds, its modules compiled from source and, separately, from bytecode. The
no-op is ``reconcile_platform_env00`` executed in process, the same job of the same environment
on the same sandbox cluster (its objects created by a first run), from the 1-environment and the
20-environment spec in turn; the sandbox runs in its own process and counts the API calls.
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_reconcile import (  # noqa: E402 - after the path insert
    LOAD_CODE,
    component_objects,
    counts,
    example_infrastructure,
    k8s_calls,
    load_rounds,
    reset_counts,
    start_sandbox,
)

ENVIRONMENTS = 20
COMPONENTS = 50
GOAL_LOAD = 1.5
JOB = "reconcile_platform_env00"


def write_fleet(directory: Path, environments: int, components: int) -> Path:
    """A spec of ``components`` manifest components (ten objects each) and ``environments``
    environments: even ones on an existing cluster (``ENVnn_KUBECONFIG``), odd ones on IONOS
    (the example's infrastructure under their own datacenter); each overrides one component."""
    example = example_infrastructure()
    comps = []
    for i in range(components):
        path = directory / "manifests" / f"c{i:03d}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "objects.yaml").write_text(yaml.safe_dump_all(component_objects(i)))
        comps.append({"name": f"component-{i:03d}", "namespace": f"bench-{i:03d}",
                      "source": {"manifests": {"path": f"manifests/c{i:03d}"}},
                      "health_timeout": "2m"})
    envs: dict[str, Any] = {}
    for e in range(environments):
        name = f"env{e:02d}"
        if e % 2 == 0:
            env: dict[str, Any] = {"cluster": {"name": f"k3s-{name}",
                                               "kubeconfig_env": f"{name.upper()}_KUBECONFIG"}}
        else:
            ionos = json.loads(json.dumps(example))
            ionos["datacenter"]["name"] = f"dc-{name}"
            ionos["cluster"]["name"] = f"k8s-{name}"
            ionos.pop("mariadb", None)
            ionos["buckets"] = []
            env = {"ionos": ionos}
        env["components"] = {f"component-{e % components:03d}": {"health_timeout": "3m"}}
        envs[name] = env
    spec = {"apiVersion": "platform-ops/v1", "metadata": {"name": "fleet-bench"},
            "platform": comps, "environments": envs}
    out = directory / "platform.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def bench_load(fleet: Path, single: Path, rounds: int, tmp: Path) -> dict[str, float]:
    """``load_<case>_[cpu_]s`` compiled from source, ``load_<case>_bytecode_[cpu_]s`` from
    bytecode (``bench_reconcile.load_rounds``)."""
    base = {k: v for k, v in os.environ.items() if k != "PLATFORM_SPEC"}
    cases = {"import_dagster": ("import dagster", base),
             "one_environment": (LOAD_CODE, {**base, "PLATFORM_SPEC": str(single)}),
             "fleet": (LOAD_CODE, {**base, "PLATFORM_SPEC": str(fleet)})}
    medians = load_rounds(cases, rounds, tmp)
    out: dict[str, float] = {}
    for name, value in medians.items():
        case, cpu = (name[:-4], "cpu_") if name.endswith("_cpu") else (name, "")
        out[f"load_{case}_{cpu}s"] = value
    return out


def bench_noop(fleet: Path, single: Path, rounds: int, tmp: Path) -> dict[str, Any]:
    import dagster as dg

    from platform_assets.definitions import build_definitions

    proc, env = start_sandbox(tmp / "sandbox")
    try:
        os.environ.update(env)
        os.environ["ENV00_KUBECONFIG"] = env["KUBECONFIG"]
        admin = env["SANDBOX_ADMIN_URL"].rstrip("/")
        from sandbox.admin import AdminClient

        AdminClient(admin).add_nodes(count=3)
        jobs = {"one_environment": build_definitions(single).resolve_job_def(JOB),
                "fleet": build_definitions(fleet).resolve_job_def(JOB)}
        with dg.instance_for_test() as instance:
            def run(name: str) -> tuple[float, dict[str, int]]:
                reset_counts(admin)
                start = time.perf_counter()
                result = jobs[name].execute_in_process(instance=instance, raise_on_error=False)
                took = time.perf_counter() - start
                if not result.success:
                    raise SystemExit(f"{JOB} of the {name} spec failed")
                return took, k8s_calls(counts(admin))

            run("one_environment")  # creates the objects; then both are no-ops
            run("fleet")
            times: dict[str, list[float]] = {"one_environment": [], "fleet": []}
            calls: dict[str, dict[str, int]] = {}
            for _ in range(rounds):
                for name in times:
                    took, calls[name] = run(name)
                    times[name].append(took)
        return {"noop_one_environment_s": statistics.median(times["one_environment"]),
                "noop_fleet_s": statistics.median(times["fleet"]),
                "noop_one_environment_calls": calls["one_environment"],
                "noop_fleet_calls": calls["fleet"]}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def load_lines(load: dict[str, float]) -> tuple[list[str], dict[str, float]]:
    """The load's summary lines and its ratios to ``import dagster`` (CPU, both modes; wall
    from source)."""
    ratios = {
        "load_fleet_per_import_dagster": load["load_fleet_s"] / load["load_import_dagster_s"],
        "load_fleet_cpu_per_import_dagster":
            load["load_fleet_cpu_s"] / load["load_import_dagster_cpu_s"],
        "load_fleet_bytecode_cpu_per_import_dagster":
            load["load_fleet_bytecode_cpu_s"] / load["load_import_dagster_bytecode_cpu_s"],
    }
    goal = ratios["load_fleet_cpu_per_import_dagster"]
    lines = [
        f"load, {ENVIRONMENTS} environments x {COMPONENTS} components, CPU from source: "
        f"{load['load_fleet_cpu_s']:.2f} s; bare import dagster "
        f"{load['load_import_dagster_cpu_s']:.2f} s; one environment "
        f"{load['load_one_environment_cpu_s']:.2f} s -> {goal:.2f}x "
        f"(goal <= {GOAL_LOAD}: {'met' if goal <= GOAL_LOAD else 'NOT met'}); wall "
        f"{ratios['load_fleet_per_import_dagster']:.2f}x",
        f"the same from compiled bytecode (as the image runs): fleet "
        f"{load['load_fleet_bytecode_cpu_s']:.2f} s, import dagster "
        f"{load['load_import_dagster_bytecode_cpu_s']:.2f} s, one environment "
        f"{load['load_one_environment_bytecode_cpu_s']:.2f} s -> "
        f"{ratios['load_fleet_bytecode_cpu_per_import_dagster']:.2f}x",
    ]
    return lines, ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("load",), default=None,
                        help="measure only the load (no sandbox)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        fleet = write_fleet(tmp / "fleet", ENVIRONMENTS, COMPONENTS)
        single = write_fleet(tmp / "single", 1, COMPONENTS)
        load = bench_load(fleet, single, args.rounds, tmp)
        noop = bench_noop(fleet, single, args.rounds, tmp) if args.only is None else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines, ratios = load_lines(load)
    print("\n".join(lines))
    figures: dict[str, Any] = {"environments": ENVIRONMENTS, "components": COMPONENTS,
                               **{k: round(v, 3) for k, v in load.items()},
                               **{k: round(v, 3) for k, v in ratios.items()}}
    if noop is not None:
        cost = noop["noop_fleet_s"] / noop["noop_one_environment_s"]
        print(f"no-op reconcile of one environment: {noop['noop_fleet_s']:.2f} s in the fleet, "
              f"{noop['noop_one_environment_s']:.2f} s alone -> {cost:.2f}x; API calls "
              f"{noop['noop_fleet_calls']} vs {noop['noop_one_environment_calls']}")
        figures.update({
            "noop_fleet_s": round(noop["noop_fleet_s"], 3),
            "noop_one_environment_s": round(noop["noop_one_environment_s"], 3),
            "noop_fleet_per_one_environment": round(cost, 3),
            "noop_same_calls": noop["noop_fleet_calls"] == noop["noop_one_environment_calls"]})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The platform-ops command line (the ``platform-ops`` console script, or
``python -m platform_assets``).

    platform-ops plan [--spec FILE] [--format text|json|markdown] [--force] [--verbose]
        What a reconcile would change, the way ``terraform plan`` prints it; ``json`` for tools
        (documented in docs/reconcile.md), ``markdown`` for a pull-request comment. Exit status
        0: no changes; 2: changes; 1: error (an invalid spec, an unreachable API, a replace the
        spec does not allow).
    platform-ops validate [--spec FILE]
        Load the spec, its manifests and the asset graph; exit 1 with the problems if invalid.
    platform-ops graph [--spec FILE]
        The asset graph as a Mermaid flowchart.
    platform-ops rbac [--spec FILE]
        The RBAC manifests the run workers need.
    platform-ops schema [--output FILE]
        The JSON Schema of the spec (committed as platform/platform.schema.json).
    platform-ops checkout [--spec FILE] [--dest DIR]
        Write the newest commit of the spec's Git branch whose spec is valid into DIR
        (default $PLATFORM_GIT_CHECKOUT), the checkout the code location loads its spec from.
    platform-ops demo
        Start the sandbox, reconcile the example platform on it, then again (no changes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_assets import names

if TYPE_CHECKING:  # the CLI imports Dagster only for the commands that run it
    from collections.abc import Iterator

    from dagster import DagsterInstance

    from platform_assets.core.graph import Graph
from platform_assets.core.plan_report import EXIT_ERROR, EXIT_OK, FORMATS

ROOT = Path(__file__).resolve().parents[1]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _load(spec: str | None, environment: str | None = None) -> Any:
    from platform_assets.spec.loader import load_graph

    return load_graph(spec, environment)


def _spec_errors() -> tuple[type[Exception], ...]:
    from platform_assets.core.manifests import ManifestError
    from platform_assets.spec.loader import SpecError

    return (SpecError, ManifestError)


def resources_from_env(graph: Graph, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``ionos``, ``kubernetes`` and ``object_storage`` exactly as the Definitions build them
    (``resources.core_resources``), after checking, before any request, that the environment
    (``env``, default ``os.environ``) holds IONOS credentials and names a usable Kubernetes
    source. An unset IONOS endpoint variable means IONOS's endpoint.

    Raises:
        ValueError: ``CredentialError`` or ``KubeconfigError``; the message says what to set.
    """
    from resources import core_resources, ionos_credential_names
    from resources.credentials import DEFAULT_NAMES, ionos_credentials, s3_keys
    from resources.kubeconfig import KubeconfigError, choose

    environ = os.environ if env is None else env
    existing = graph.spec.cluster
    if existing is None:
        ionos_credentials(environ, ionos_credential_names(graph) or DEFAULT_NAMES)
    elif not environ.get(existing.kubeconfig_env):
        raise KubeconfigError(f"environment {graph.environment}: set {existing.kubeconfig_env} "
                              "to the path of the cluster's kubeconfig")
    s3_keys(environ)
    scoped = core_resources(graph, lambda name: environ.get(name, ""))
    # By their bare names (the CLI works on one environment at a time), opened: the CLI calls
    # their methods, which a run gets from Dagster's create_resource.
    configs = {key: scoped.get(names.scoped(key, graph.environment))
               for key in ("ionos", "kubernetes", "object_storage")}
    res = {key: None if config is None else config.open() for key, config in configs.items()}
    kube: Any = res["kubernetes"]
    choose(kubeconfig_path=kube.kubeconfig_path, context=kube.context, in_cluster=kube.in_cluster,
           from_ionos_cluster=kube.from_ionos_cluster, environ=environ)
    return res


def _preflight_errors() -> tuple[type[Exception], ...]:
    from resources.credentials import CredentialError
    from resources.kubeconfig import KubeconfigError

    return (CredentialError, KubeconfigError)


def cmd_plan(args: argparse.Namespace) -> int:
    from platform_assets.core.plan_report import PlanReport, render
    from platform_assets.engine.reconcile import Engine, Options, ReconcileError
    from platform_assets.reconcile_assets import reconciled_nodes

    try:
        graph = _load(args.spec, args.environment)
    except _spec_errors() as exc:
        return _fail(str(exc))
    try:
        res = resources_from_env(graph)
    except _preflight_errors() as exc:
        return _fail(f"{exc} (the plan reads the live state; for the sandbox: python -m sandbox "
                     "up --env-file .sandbox.env, then export its variables)")
    # Which cluster the plan reads, on stderr so that --format json stays one JSON document.
    source = res["kubernetes"].source()
    ignored = (" ($KUBECONFIG is not read for the spec's cluster: set PLATFORM_KUBE_CONTEXT to "
               "use one of its contexts)" if source.kind == "ionos" and os.environ.get("KUBECONFIG")
               else "")
    print(f"kubernetes: {source.describe()}{ignored}", file=sys.stderr)
    engine = Engine(graph.spec, graph.base_dir, ionos=res["ionos"],
                    kubernetes=res["kubernetes"], object_storage=res["object_storage"])
    plans = []
    for node in reconciled_nodes(graph):
        try:
            outcome = engine.reconcile(node, Options(dry_run=True, force=args.force))
        except ReconcileError as exc:
            return _fail(str(exc))
        plans.append(outcome.plan)
    report = PlanReport(graph.spec.metadata.name, plans)
    sys.stdout.write(render(report, args.format, verbose=args.verbose))
    if report.blocked:
        # Applying this plan would fail (as Terraform's prevent_destroy does): a pull request
        # check must go red, not merely report changes.
        _fail(f"{len(report.blocked)} change(s) need a replace the spec does not allow (set "
              "allow_replace on the resource or revert the change) or that platform-ops never "
              "does (a volume's data would be lost): see each BLOCKED line")
    return report.exit_code


def cmd_validate(args: argparse.Namespace) -> int:
    from platform_assets.engine.reconcile import Engine
    from platform_assets.spec.loader import load_graphs

    try:
        # Every environment of a fleet, unless one is named.
        graphs: list[Any] = ([_load(args.spec, args.environment)] if args.environment
                             else load_graphs(args.spec))
        for graph in graphs:
            engine = Engine(graph.spec, graph.base_dir)
            objects = sum(len(engine.component_manifests(c)) for c in graph.spec.components)
            where = f" [{graph.environment}]" if graph.environment else ""
            print(f"spec OK: {graph.spec.metadata.name}{where}: {len(graph.nodes)} assets, "
                  f"{len(graph.spec.components)} components, {objects} manifest objects")
    except _spec_errors() as exc:
        return _fail(str(exc))
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from platform_assets.core.graph import to_mermaid

    try:
        graph = _load(args.spec, args.environment)
    except _spec_errors() as exc:
        return _fail(str(exc))
    print(to_mermaid(graph))
    return EXIT_OK


def cmd_rbac(args: argparse.Namespace) -> int:
    from platform_assets.core.rbac import render_rbac

    try:
        print(render_rbac(args.spec), end="")
    except _spec_errors() as exc:
        return _fail(str(exc))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from platform_assets.spec.schema import render_schema

    text = render_schema()
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text)
    except OSError as exc:
        return _fail(f"cannot write the schema to {args.output}: {exc.strerror or exc}")
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _counts(admin_url: str) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(admin_url.rstrip("/") + "/requests", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def _reset_counts(admin_url: str) -> None:
    req = urllib.request.Request(admin_url.rstrip("/") + "/requests", method="DELETE")
    urllib.request.urlopen(req, timeout=10).close()


def writes_of(counts: dict[str, dict[str, int]]) -> int:
    """Requests that are not reads, summed over every service (the sandbox counts access
    reviews, questions that write nothing, as ``REVIEW``)."""
    return sum(n for per in counts.values() for m, n in per.items()
               if m not in ("GET", "HEAD", "OPTIONS", "REVIEW"))


def demo_instance_home() -> Path:
    home = ROOT / ".dagster_home"
    home.mkdir(exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        # One reconcile per cluster at a time (when runs go through the queue, e.g. dagster dev).
        cfg.write_text(
            "concurrency:\n"
            "  pools:\n"
            "    default_limit: 1\n"
            "  runs:\n"
            "    tag_concurrency_limits:\n"
            f"      - key: {names.TAG_CLUSTER}\n"
            "        value: {applyLimitPerUniqueValue: true}\n"
            "        limit: 1\n"
            "telemetry:\n"
            "  enabled: false\n")
    return home


def _run_reconcile(instance: DagsterInstance, spec: str, log: Path,
                   job: str = names.RECONCILE_JOB) -> tuple[bool, list[tuple[str, dict[str, Any]]]]:
    ok, rows, _ = _run_job(instance, spec, log, job)
    return ok, rows


def _run_job(instance: DagsterInstance, spec: str, log: Path, job_name: str,
             partition_key: str | None = None
             ) -> tuple[bool, list[tuple[str, dict[str, Any]]], list[Any]]:
    """Run a job in process; (success, materializations as (key, metadata), check results)."""
    import contextlib

    # The run's console log (and load-time warnings, also those of importing the code location,
    # which builds its default Definitions) go to a file; the terminal gets a summary.
    with log.open("a") as f, contextlib.redirect_stderr(f):
        from platform_assets.definitions import build_definitions

        defs = build_definitions(spec)
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        partition_key=partition_key)
    rows = []
    for ev in result.get_asset_materialization_events():
        mat = ev.step_materialization_data.materialization
        if mat is None:
            continue
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        rows.append(("/".join(mat.asset_key.path), meta))
    if not result.success:
        for ev in result.all_events:
            if ev.event_type_value == "STEP_FAILURE":
                err = ev.event_specific_data.error  # type: ignore[union-attr]
                message = err.message.strip().splitlines()[0] if err else ""
                print(f"  FAILED {ev.step_key}: {message}")
    return result.success, rows, list(result.get_asset_check_evaluations())


def _show_checks(checks: list[Any]) -> None:
    for c in sorted(checks, key=lambda c: (c.asset_key.to_user_string(), c.check_name)):
        state = "ok" if c.passed else c.severity.value
        meta = {k: getattr(v, "value", v) for k, v in c.metadata.items()}
        detail = meta.get("summary") or ""
        if meta.get("reasons") not in (None, "", "none"):
            detail = meta["reasons"]
        elif meta.get("days_left") is not None:
            detail = f"{float(meta['days_left']):.0f} days left"
        print(f"  {c.asset_key.to_user_string() + ' ' + c.check_name:58s} {state:5s} "
              f"{str(detail)[:60]}")


def _pods_not_running(kubeconfig: str) -> tuple[int, list[str]]:
    """(pods in the cluster, the ones not Running with their reason): the platform is up only
    when every pod the workloads asked for is admitted, scheduled and running."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    pods = api.list_pod_for_all_namespaces().items
    waiting = []
    for pod in pods:
        if pod.status.phase in ("Running", "Succeeded"):
            continue
        why = next((c.message for c in pod.status.conditions or [] if c.status != "True"
                    and c.message), "") or pod.status.phase
        waiting.append(f"{pod.metadata.namespace}/{pod.metadata.name}: {why}")
    return len(pods), waiting


def _workloads_failing(kubeconfig: str) -> list[str]:
    """Deployments whose pods could not even be created (ReplicaFailure, e.g. PodSecurity)."""
    from kubernetes import client, config

    api = client.AppsV1Api(config.new_client_from_config(config_file=kubeconfig))
    out = []
    for dep in api.list_deployment_for_all_namespaces().items:
        for cond in dep.status.conditions or []:
            if cond.type == "ReplicaFailure" and cond.status == "True":
                out.append(f"{dep.metadata.namespace}/{dep.metadata.name}: {cond.message}")
    return out


def _report_pods(kubeconfig: str) -> bool:
    """Print the cluster's pods; False when one is not running or a workload cannot create
    its pods."""
    total, waiting = _pods_not_running(kubeconfig)
    waiting += _workloads_failing(kubeconfig)
    print(f"  pods: {total}, all running" if not waiting else f"  pods: {total}; not running:")
    for line in waiting:
        print(f"    {line}")
    return not waiting


def _demo_seams(instance: DagsterInstance, spec: str, log: Path) -> None:
    """After the reconcile: the nightly backup of yesterday and the certificate audit, on the
    same sandbox (reported, not fatal: the main job is the reconcile)."""
    from datetime import UTC, datetime, timedelta

    from platform_assets.spec import load_spec

    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    _demo_longhorn_secrets(spec)
    _demo_volume_files(spec)
    print(f"\nsnapshot_platform, partition {yesterday}:", flush=True)
    ok, rows, checks = _run_job(instance, spec, log, names.SNAPSHOT_JOB, yesterday)
    for key, meta in rows:
        size = meta.get("bytes")
        print(f"  {key:45s} {meta.get('objects', '')} object(s)"
              + (f", {size} bytes" if size is not None else ""))
    _show_checks(checks)
    print(f"  -> {'succeeded' if ok else 'finished with failures (see above)'}")
    print("\naudit_certificates:", flush=True)
    if not load_spec(spec).certificates.items:
        print("  the spec lists no certificates (the job is not defined)")
        return
    ok, _rows, checks = _run_job(instance, spec, log, names.AUDIT_CERTIFICATES_JOB)
    _show_checks(checks)
    print(f"  -> {'succeeded' if ok else 'finished with failures (see above)'}")


def _demo_volume_files(spec: str) -> None:
    """Content in the `files` volume targets' claims, as the applications would have written
    it, so the volume backups and drills have files to carry."""
    from platform_assets.spec import load_spec
    from sandbox.admin import AdminClient

    loaded = load_spec(spec)
    admin = AdminClient(os.environ["SANDBOX_ADMIN_URL"])
    for t in loaded.backups.targets if loaded.backups else []:
        if t.kind == "volume" and t.method in ("files", "longhorn") and t.namespace and t.pvc:
            files = {f"demo/{t.name}/{i:02d}.dat": (f"{t.name} {i} ".encode() * 4000)
                     for i in range(8)}
            try:
                admin.write_volume_files(t.namespace, t.pvc, files)
            except Exception as exc:  # noqa: BLE001 - the backup then reports the claim
                print(f"  (no demo files in {t.namespace}/{t.pvc}: {exc})")


def _demo_longhorn_secrets(spec: str) -> None:
    """The deploy-time step of a Longhorn the spec installs, done for the demo: its backup
    target's credential Secret (``defaultSettings.backupTargetCredentialSecret``, keys as
    Longhorn's S3 backupstore reads them) with the sandbox's S3 key and endpoint; then the
    wait until Longhorn finds the target available."""
    from platform_assets.spec import load_spec
    from resources.kubernetes import KubernetesResource

    kube = KubernetesResource(kubeconfig_path=os.environ["KUBECONFIG"])
    for c in load_spec(spec).components:
        release = c.source.helm_release
        settings = (release.values.get("defaultSettings") or {}) if release else {}
        secret = settings.get("backupTargetCredentialSecret") if release and \
            release.chart == "longhorn" else None
        if not secret:
            continue
        kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": secret, "namespace": c.namespace},
                    "stringData": {"AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                                   "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
                                   "AWS_ENDPOINTS": os.environ["AWS_ENDPOINT_URL_S3"]}})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not ((kube.get(
                "longhorn.io/v1beta2", "BackupTarget", "default", c.namespace) or {})
                .get("status") or {}).get("available"):
            time.sleep(0.2)


@contextlib.contextmanager
def _demo_drill_account(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The operator's one-time setup for restore drills, done for the demo: an account limited
    to the scratch databases `drill\\_%`.* (docs/security.md), for a DBaaS whose dumping account
    may not create users. The account is this sandbox instance's own (named after its state
    directory) and is dropped when the demo ends: the local MariaDB is shared with other demos
    and test runs. Empty when the sandbox has no MariaDB server behind its DBaaS."""
    import secrets

    import pymysql

    host = env.get("SANDBOX_MARIADB_HOST")
    if not host:
        yield {}
        return
    user, password = names.demo_drill_user(env["SANDBOX_STATE_DIR"]), secrets.token_urlsafe(18)

    def admin(*statements: tuple[str, tuple[str, ...]]) -> None:
        conn = pymysql.connect(host=host, port=int(env.get("SANDBOX_MARIADB_PORT", "3306")),
                               user=env.get("SANDBOX_MARIADB_USER", "root"),
                               password=env.get("SANDBOX_MARIADB_PASSWORD", ""), autocommit=True)
        try:
            with conn.cursor() as cur:
                for sql, args in statements:
                    cur.execute(sql, args)
        finally:
            conn.close()

    admin(("CREATE OR REPLACE USER %s@'%%' IDENTIFIED BY %s", (user, password)),
          ("GRANT ALL PRIVILEGES ON `drill\\_%%`.* TO %s@'%%'", (user,)))
    try:
        yield {"MARIADB_DRILL_USER": user, "MARIADB_DRILL_PASSWORD": password}
    finally:
        admin(("DROP USER IF EXISTS %s@'%%'", (user,)))


def _demo_clusters(spec: str) -> list[tuple[str, str]]:
    """(environment, sandbox cluster name) of each environment on an existing cluster whose
    kubeconfig variable the sandbox can fill (``<NAME>_KUBECONFIG``)."""
    from platform_assets.spec.loader import load_graphs

    out = []
    for graph in load_graphs(spec):
        cluster = graph.spec.cluster
        if cluster is None:
            continue
        if not cluster.kubeconfig_env.endswith("_KUBECONFIG"):
            raise ValueError(f"environment {graph.environment}: the demo serves an existing "
                             "cluster whose kubeconfig variable is <NAME>_KUBECONFIG; got "
                             f"{cluster.kubeconfig_env}")
        name = cluster.kubeconfig_env.removesuffix("_KUBECONFIG").lower().replace("_", "-")
        out.append((str(graph.environment), name))
    return out


def _start_demo_sandbox(clusters: list[tuple[str, str]]
                        ) -> tuple[subprocess.Popen[bytes], dict[str, str] | str]:
    """The sandbox as a child process, and its env file's variables (or why it did not start)."""
    env_file = Path(tempfile.mkdtemp(prefix="platform-ops-demo-")) / "sandbox.env"
    print("starting the sandbox ...", flush=True)
    extra = [arg for _, name in clusters for arg in ("--cluster", name)]
    # --run-jobs: the volume agent's Jobs really run (file-level volume backups and drills).
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--run-jobs",
                             "--env-file", str(env_file), *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            return proc, f"the sandbox exited with status {proc.returncode}: {err[-2000:]}"
        if time.monotonic() > deadline:
            return proc, "the sandbox did not write its env file within 60 s"
        time.sleep(0.1)
    time.sleep(0.1)
    return proc, _read_env_file(env_file)


def cmd_demo(args: argparse.Namespace) -> int:
    # A spec the person names ($PLATFORM_SPEC) wins over the sandbox's seeded copy.
    chosen = os.environ.get("PLATFORM_SPEC")
    errors: tuple[type[Exception], ...] = (*_spec_errors(), ValueError)
    try:
        clusters = _demo_clusters(chosen or str(ROOT / "platform" / "platform.yaml"))
    except errors as exc:
        return _fail(str(exc))
    proc, env = _start_demo_sandbox(clusters)
    try:
        if isinstance(env, str):
            return _fail(env)
        os.environ.update(env)
        # The drill account is dropped before the sandbox stops.
        with _demo_drill_account(env) as drill:
            os.environ.update(drill)
            return _demo_runs(chosen, env, clusters)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        print("sandbox stopped")


def _demo_runs(chosen: str | None, env: dict[str, str], clusters: list[tuple[str, str]]) -> int:
    """The demo's jobs on the started sandbox, in an instance of their own."""
    from dagster import DagsterInstance

    os.environ["DAGSTER_HOME"] = str(demo_instance_home())
    spec = chosen or env.get("PLATFORM_SPEC") or str(ROOT / "platform" / "platform.yaml")
    os.environ["PLATFORM_SPEC"] = spec
    log = Path(os.environ["DAGSTER_HOME"]) / "demo.log"
    with DagsterInstance.get() as instance:
        if clusters or _has_environments(spec):
            status = _demo_fleet(instance, spec, env, clusters, log)
        else:
            status = _demo_one(instance, spec, env, log)
    print(f"\nrun logs: {log}\nDagster instance: {os.environ['DAGSTER_HOME']} "
          "(`dagster dev` shows the runs with DAGSTER_HOME set to it)")
    return status


def _has_environments(spec: str) -> bool:
    from platform_assets.spec.loader import load_graphs

    return load_graphs(spec)[0].environment is not None


def _reconcile_twice(instance: DagsterInstance, spec: str, admin: str, log: Path, job: str,
                     kubeconfig: str) -> bool:
    """Run ``job`` from what is there, then again; the second must write nothing."""
    for attempt, title in ((1, "first run (from an empty cloud)"),
                           (2, "second run (nothing changed)")):
        _reset_counts(admin)
        before = writes_of(_counts(admin))
        started = time.monotonic()
        print(f"\n{job}, {title}:", flush=True)
        ok, rows = _run_reconcile(instance, spec, log, job)
        writes = writes_of(_counts(admin)) - before
        for key, meta in rows:
            print(f"  {key:45s} {meta.get('summary', '')}")
        print(f"  -> {'succeeded' if ok else 'FAILED'} in "
              f"{time.monotonic() - started:.1f}s, {writes} write request(s) to the APIs")
        if not ok or (attempt == 1 and not _report_pods(kubeconfig)):
            return False
        if attempt == 2:
            if writes:
                print(f"the second run made {writes} writes; expected none")
                return False
            print("  no changes: the platform matches the spec")
    return True


def _demo_one(instance: DagsterInstance, spec: str, env: dict[str, str], log: Path) -> int:
    """The demo of a spec without environments: reconcile twice, then backups and certificates."""
    if not _reconcile_twice(instance, spec, env["SANDBOX_ADMIN_URL"], log, names.RECONCILE_JOB,
                            env["KUBECONFIG"]):
        return EXIT_ERROR
    _demo_seams(instance, spec, log)
    return EXIT_OK


def _demo_fleet(instance: DagsterInstance, spec: str, env: dict[str, str],
                clusters: list[tuple[str, str]], log: Path) -> int:
    """The demo of a fleet: each existing cluster gets its nodes (as a K3s cluster has them),
    then each environment is reconciled twice in its own runs, in the order written (an
    environment promoted from another comes after it)."""
    from platform_assets.spec.loader import load_graphs

    admin = env["SANDBOX_ADMIN_URL"]
    kubeconfigs = {}
    for environment, name in clusters:
        _admin_post(admin, f"/clusters/{name}/kubernetes/nodes",
                    {"pool": f"{name}-nodes", "count": 3})
        kubeconfigs[environment] = env[f"{name.upper().replace('-', '_')}_KUBECONFIG"]
    for graph in load_graphs(spec):
        environment = str(graph.environment)
        print(f"\n== environment {environment}", flush=True)
        if not _reconcile_twice(instance, spec, admin, log,
                                names.scoped(names.RECONCILE_JOB, environment),
                                kubeconfigs.get(environment, env["KUBECONFIG"])):
            return EXIT_ERROR
        if graph.spec.backups is not None:
            _demo_environment_backups(instance, spec, graph, dict(clusters).get(environment),
                                      log)
    return EXIT_OK


def _demo_environment_backups(instance: DagsterInstance, spec: str, graph: Graph,
                              cluster: str | None, log: Path) -> None:
    """Yesterday's backup of one environment of a fleet, with its drills (reported, not fatal).
    The buckets of its object stores are made first, as their operator does (`mc mb`), with
    the store's own keys; its `files` volumes get content, as the application would write."""
    from datetime import UTC, datetime, timedelta

    import boto3

    from sandbox.admin import AdminClient

    for store in graph.spec.object_stores:
        url = store.endpoint or os.environ.get(store.endpoint_env or "", "")
        keys = store.credentials
        s3 = boto3.client("s3", endpoint_url=url, region_name=store.region,
                          aws_access_key_id=os.environ.get(keys.access_key_id_env),
                          aws_secret_access_key=os.environ.get(keys.secret_access_key_env))
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=store.bucket)
    admin = AdminClient(os.environ["SANDBOX_ADMIN_URL"])
    bk = graph.spec.backups
    for t in bk.targets if bk else []:
        if t.kind == "volume" and t.method == "files" and t.namespace and t.pvc:
            admin.write_volume_files(t.namespace, t.pvc, {
                f"demo/{t.name}/{i:02d}.dat": f"{t.name} {i} ".encode() * 4000
                for i in range(8)}, cluster=cluster)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    job = names.scoped(names.SNAPSHOT_JOB, graph.environment)
    print(f"\n{job}, partition {yesterday}:", flush=True)
    ok, rows, checks = _run_job(instance, spec, log, job, yesterday)
    for key, meta in rows:
        print(f"  {key:45s} {meta.get('objects', '')} object(s), {meta.get('bytes')} bytes")
    _show_checks(checks)
    print(f"  -> {'succeeded' if ok else 'finished with failures (see above)'}")


def _admin_post(admin_url: str, path: str, body: dict[str, Any]) -> None:
    import urllib.request

    req = urllib.request.Request(admin_url + path, data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - the sandbox on 127.0.0.1
        pass


# How far back `checkout` looks for a commit whose spec is valid (the head may be broken).
CHECKOUT_DEPTH = 20


def cmd_checkout(args: argparse.Namespace) -> int:
    """Write the newest valid commit of the spec's branch to the checkout directory the code
    location loads its spec from (``$PLATFORM_GIT_CHECKOUT``): the Helm values run it as the
    code server's and run pods' init container, and the git_changes sensor keeps it current."""
    from resources.git import GitRepositoryResource, GitUnavailable
    from sensors.ticks.git_changes import graph_at

    dest = args.dest or os.environ.get("PLATFORM_GIT_CHECKOUT")
    if not dest:
        return _fail("no checkout directory: pass --dest or set PLATFORM_GIT_CHECKOUT")
    try:
        spec = _load(args.spec).spec
    except _spec_errors() as exc:
        return _fail(str(exc))
    git = GitRepositoryResource(url=os.environ.get("PLATFORM_GIT_URL") or spec.git.url,
                                branch=os.environ.get("PLATFORM_GIT_BRANCH") or spec.git.branch,
                                spec_path=spec.git.spec_path)
    try:
        head = git.fetch()
        for sha in git.ancestors(head, CHECKOUT_DEPTH):
            try:
                graph_at(git, sha)
            except _spec_errors() as exc:
                print(f"skipping {sha[:12]}: invalid spec: {exc}", file=sys.stderr)
                continue
            where = git.materialize(sha, Path(dest))
            print(f"checkout: {sha} of {git.branch} in {where} (spec {git.spec_path})")
            return EXIT_OK
    except GitUnavailable as exc:
        return _fail(str(exc))
    return _fail(f"none of the last {CHECKOUT_DEPTH} commits of {git.branch} has a valid spec")


def build_parser(prog: str = "platform-ops") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="platform-ops command line")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = (("plan", cmd_plan, "print what a reconcile would change"),
                ("validate", cmd_validate, "check the spec and its manifests"),
                ("graph", cmd_graph, "the asset graph as Mermaid"),
                ("rbac", cmd_rbac, "the RBAC manifests the run workers need"),
                ("schema", cmd_schema, "the JSON Schema of the spec"),
                ("checkout", cmd_checkout, "write the newest valid commit to the checkout"),
                ("demo", cmd_demo, "sandbox + reconcile twice"))
    for name, fn, help_ in commands:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)
        if name not in ("demo", "schema"):
            p.add_argument("--spec", default=None,
                           help="the platform spec (default $PLATFORM_SPEC or the example)")
        if name in ("plan", "validate", "graph"):
            p.add_argument("--environment", default=None,
                           help="the environment, for a spec with environments")
    plan = sub.choices["plan"]
    plan.add_argument("--format", choices=FORMATS, default="text",
                      help="text for a terminal, json for tools, markdown for a pull-request "
                           "comment (default: text)")
    plan.add_argument("--force", action="store_true",
                      help="plan disruptive changes as if inside a maintenance window")
    plan.add_argument("--verbose", action="store_true", help="list unchanged resources")
    sub.choices["checkout"].add_argument(
        "--dest", default=None, help="the directory (default $PLATFORM_GIT_CHECKOUT); replaced "
                                     "whole")
    sub.choices["schema"].add_argument(
        "--output", "-o", default=None,
        help="write the schema to this file (default: standard output), e.g. "
             "platform/platform.schema.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    prog = "platform-ops" if Path(sys.argv[0]).name == "platform-ops" else \
        "python -m platform_assets"
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of ours; keep stderr quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

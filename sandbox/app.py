"""Assembles the sandbox: starts every service on 127.0.0.1, links them and describes them.

``start_sandbox()`` returns a running ``Sandbox`` whose ``env`` holds the variables a client needs
(the same ones ``python -m sandbox up --env-file`` writes). The IONOS Cloud API, DBaaS MariaDB and
Certificate Manager share one port behind a path-prefix router; every other service has its own.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sandbox.admin import AdminClient, AdminService
from sandbox.http import COUNTER, FAULTS, PrefixRouter, RunningServer, Service, serve
from sandbox.world import World

log = logging.getLogger(__name__)

IONOS_TOKEN = "sandbox-ionos-token"
IONOS_USERNAME = "sandbox@platform-ops.invalid"
IONOS_PASSWORD = "sandbox-ionos-password"
# The password the product gives the DBaaS MariaDB cluster it creates (spec `password_env`).
MARIADB_PASSWORD = "sandbox-mariadb-password"

IONOS_PREFIX = "/cloudapi/v6"
MARIADB_PREFIX = "/mariadb/v2"
CERTMANAGER_PREFIX = "/certmanager"
DNS_PREFIX = "/dns"
AUTH_PREFIX = "/auth/v1"
POSTGRES_PREFIX = "/postgresql"
INMEMORYDB_PREFIX = "/in-memory-db"
REGISTRY_PREFIX = "/containerregistries"
# The password a client gives the In-Memory DB clusters it creates (it sends its SHA-256).
INMEMORYDB_PASSWORD = "sandbox-redis-password"
# The password a client gives the DBaaS PostgreSQL clusters it creates; it meets the API's rules
# (upper, lower, digit and one of @$!%*?&).
POSTGRES_PASSWORD = "Sandbox-pg-1@"


class SandboxError(RuntimeError):
    pass


# The ServiceAccount the deploy runs jobs as (deploy/, platform_assets.names), which the sandbox's
# Vault role admits.
VAULT_RUN_ACCOUNT = ("platform-ops-runs", "platform-ops-runner")


def probe_mariadb(host: str = "127.0.0.1", port: int = 3306, timeout: float = 0.5) -> bool:
    """Does a MariaDB/MySQL server answer on host:port? (TCP connect and read its handshake.)"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            packet = sock.recv(128)
    except OSError:
        return False
    # A 4-byte packet header, then protocol version 10 of the initial handshake.
    return len(packet) > 5 and packet[4] == 10


def probe_postgres(host: str = "127.0.0.1", port: int = 5432, timeout: float = 0.5) -> bool:
    """Does a PostgreSQL server answer on host:port? (TCP connect, an SSLRequest, and its one-byte
    answer: 'S' or 'N'.)"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # SSLRequest (80877103)
            answer = sock.recv(1)
    except OSError:
        return False
    return answer in (b"S", b"N")


def probe_redis(host: str = "127.0.0.1", port: int = 6379, timeout: float = 0.5) -> bool:
    """Does a Redis server answer PING on host:port?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            answer = sock.recv(64)
    except OSError:
        return False
    return answer.startswith((b"+PONG", b"-NOAUTH"))


def _wait_http(url: str, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered; an error status still means "up"
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise SandboxError(f"sandbox service at {url} did not answer in time: {last}")


class Sandbox:
    """A running sandbox. Build it with ``start_sandbox``; ``stop`` ends every service."""

    def __init__(self, state_dir: Path | None = None, delay: float = 0.0, run_jobs: bool = False,
                 platform_source: Path | None = None, preinstall_crds: bool = False,
                 clusters: tuple[str, ...] = ()):
        self.state_dir = state_dir.resolve() if state_dir is not None else None
        self.delay = delay
        self.run_jobs = run_jobs
        self.preinstall_crds = preinstall_crds
        # Existing clusters (K3s-like, not IONOS) served beside the managed one, by name.
        self.clusters = tuple(dict.fromkeys(clusters))
        self.platform_source = platform_source
        self.workdir = self.state_dir or Path(tempfile.mkdtemp(prefix="platform-sandbox-"))
        self.world = World(kubernetes_token=_kubernetes_token(self.state_dir))
        self.env: dict[str, str] = {}
        self.services: dict[str, Service] = {}
        self._servers: list[RunningServer] = []
        self._stoppers: list[Callable[[], None]] = []
        self._git: Any = None
        self._certmanager_fresh = False
        self._pending: list[Future[Any]] = []
        self.tls: Any = None
        # Services without a reset() are reset by building a new one on the same server.
        self._recreate: dict[str, tuple[RunningServer, Callable[[], Service]]] = {}
        self._tls_certificates: list[tuple[str, str, str]] = []
        # cert-manager Secrets announced before the TLS endpoints are up wait here.
        self._tls_follow_lock = threading.Lock()
        self._tls_follow_pending: list[tuple[list[str], str, str, str]] = []
        self._tls_following: Any = None
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def admin_url(self) -> str:
        return self.env["SANDBOX_ADMIN_URL"]

    @property
    def admin(self) -> AdminClient:
        return AdminClient(self.admin_url)

    def _service_state(self, name: str) -> Path | None:
        if self.state_dir is None:
            return None
        path = self.state_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _serve(self, service: Service) -> RunningServer:
        server = serve(service)
        self._servers.append(server)
        return server

    def start(self, timeout: float = 20.0) -> Sandbox:
        """Start every service; return once each answers over HTTP."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        from sandbox.alertmanager import AlertmanagerService
        from sandbox.git import seed_repository
        from sandbox.s3 import S3Service

        deadline = time.monotonic() + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Start the slow, independent parts in the background while the rest is built.
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sandbox-start")
        s3 = S3Service(state_dir=self.state_dir)
        self._stoppers.append(s3.stop)
        s3_started = pool.submit(s3.start)
        git_seeded = pool.submit(seed_repository, self.workdir, self.platform_source)
        tls_started = pool.submit(self._start_tls)
        pool.shutdown(wait=False)
        self._pending = [s3_started, git_seeded, tls_started]

        self._use_local_servers()
        k8s, k8s_server = self._start_kubernetes()
        apis, router = self._start_ionos_apis()
        # The TLS endpoints serve what cert-manager issues, like an ingress; set before the
        # controllers start so that Secrets restored from state are announced too.
        self.world.on_tls_secret = self._follow_tls_secret
        # The controllers call into the IONOS service (volumes for PVCs): start them once it is
        # linked into the world.
        k8s.start_controllers()
        if self.state_dir is not None:
            # Node pools restored from state: their Node objects in the restored cluster.
            apis["ionos"].resync_world()
        vault, vault_env = self._start_vault()
        alertmanager = AlertmanagerService()
        alertmanager_server = self._serve(alertmanager)

        s3_started.result(timeout=max(deadline - time.monotonic(), 0.1))
        s3_server = self._serve(s3)
        self.world.s3_url = s3_server.url

        extra_env = self._start_clusters()
        admin_server = self._serve(AdminService(
            reset_state=self.reset_state,
            kubernetes=self._kubernetes_admin,
            clusters={name: self._cluster_admin(name) for name in self.clusters}))
        self.services = {**self.services, "kubernetes": k8s, **apis,
                         "alertmanager": alertmanager, "s3": s3, "vault": vault}

        kubeconfig = self.workdir / "kubeconfig.yaml"
        write_private(kubeconfig, k8s.kubeconfig(k8s_server.url))
        self._git = git_seeded.result(timeout=max(deadline - time.monotonic(), 0.1))
        tls_env = tls_started.result(timeout=max(deadline - time.monotonic(), 0.1))
        self._start_following_tls()
        if self._certmanager_fresh:
            self._seed_certificates(apis["certmanager"])

        self.env = {**self._environment(router.url, kubeconfig, s3_server.url,
                                        alertmanager_server.url, admin_server.url),
                    **tls_env, **vault_env, **extra_env}
        self._wait_ready(k8s_server.url, deadline)

    def _wait_ready(self, kubernetes_url: str, deadline: float) -> None:
        env = self.env
        for url in (kubernetes_url + "/version", env["IONOS_API_URL"], env["IONOS_MARIADB_URL"],
                    env["IONOS_CERTMANAGER_URL"], env["IONOS_DNS_URL"] + "/zones",
                    env["IONOS_POSTGRES_URL"] + "/clusters", env["AWS_ENDPOINT_URL_S3"] + "/",
                    env["ALERTMANAGER_URL"] + "/api/v2/status",
                    env["SANDBOX_ADMIN_URL"] + "/healthz"):
            _wait_http(url, deadline)
        # The readiness probes are not the user's requests.
        COUNTER.reset()

    def _use_local_servers(self) -> None:
        """The machine's MariaDB, PostgreSQL and Redis, where they answer, back the DBaaS
        emulators (their admin logins are Debian's defaults)."""
        if probe_mariadb():
            self.world.mariadb_host, self.world.mariadb_port = "127.0.0.1", 3306
            self.world.extras.setdefault("mariadb_admin_user", "root")
            self.world.extras.setdefault("mariadb_admin_password", "")
        if probe_postgres():
            # User postgres, trust on 127.0.0.1.
            self.world.postgres_host, self.world.postgres_port = "127.0.0.1", 5432
            self.world.extras.setdefault("postgres_admin_user", "postgres")
            self.world.extras.setdefault("postgres_admin_password", "")
        if probe_redis():
            self.world.extras.setdefault("redis_host", "127.0.0.1")
            self.world.extras.setdefault("redis_port", 6379)

    def _start_kubernetes(self) -> tuple[Any, RunningServer]:
        """The managed cluster's API server (its controllers start once IONOS is linked)."""
        from sandbox.kubernetes.service import KubernetesService

        def new_kubernetes() -> Any:
            return KubernetesService(self.world, state_dir=self._service_state("kubernetes"),
                                     controller_delay=self.delay, run_jobs=self.run_jobs,
                                     preinstall_crds=self.preinstall_crds)

        def restarted_kubernetes() -> Any:
            k8s = new_kubernetes()
            k8s.start_controllers()
            return k8s

        k8s = new_kubernetes()
        k8s_server = self._serve(k8s)
        self.world.kubernetes_url = k8s_server.url
        self._stoppers.append(lambda: self.services.get("kubernetes", k8s).stop())
        self._recreate["kubernetes"] = (k8s_server, restarted_kubernetes)
        return k8s, k8s_server

    def _start_ionos_apis(self) -> tuple[dict[str, Any], RunningServer]:
        """The IONOS APIs, each under its prefix behind one router."""
        from sandbox.auth import AuthService
        from sandbox.certmanager import CertificateManagerService
        from sandbox.dns import DnsService
        from sandbox.inmemorydb import InMemoryDBService
        from sandbox.ionos import IonosCloudService
        from sandbox.mariadb import MariaDBService
        from sandbox.postgres import PostgresService
        from sandbox.registry import RegistryService

        login = {"username": IONOS_USERNAME, "password": IONOS_PASSWORD}
        dbaas = {**login, "delay": self.delay}
        certmanager_state = self._service_state("certmanager")
        self._certmanager_fresh = certmanager_state is None or not any(
            certmanager_state.iterdir())
        auth = AuthService(IONOS_TOKEN, IONOS_USERNAME, IONOS_PASSWORD,
                           state_dir=self._service_state("auth"))
        apis: dict[str, Any] = {
            "ionos": IonosCloudService(self.world, IONOS_TOKEN, IONOS_USERNAME, IONOS_PASSWORD,
                                       delay=self.delay, state_dir=self._service_state("ionos")),
            "mariadb": MariaDBService(self.world, IONOS_TOKEN,
                                      state_dir=self._service_state("mariadb"), **dbaas),
            "certmanager": CertificateManagerService(self.world, IONOS_TOKEN,
                                                     state_dir=certmanager_state, **login),
            "dns": DnsService(self.world, IONOS_TOKEN, delay=self.delay,
                              state_dir=self._service_state("dns"), accepts=auth.accepts),
            "auth": auth,
            "postgres": PostgresService(self.world, IONOS_TOKEN,
                                        state_dir=self._service_state("postgres"), **dbaas),
            "inmemorydb": InMemoryDBService(self.world, IONOS_TOKEN,
                                            state_dir=self._service_state("inmemorydb"), **dbaas),
            "registry": RegistryService(self.world, IONOS_TOKEN,
                                        state_dir=self._service_state("registry"), **dbaas),
        }
        prefixes = {INMEMORYDB_PREFIX: "inmemorydb", REGISTRY_PREFIX: "registry",
                    IONOS_PREFIX: "ionos", MARIADB_PREFIX: "mariadb",
                    CERTMANAGER_PREFIX: "certmanager", DNS_PREFIX: "dns", AUTH_PREFIX: "auth",
                    POSTGRES_PREFIX: "postgres"}
        router = self._serve(PrefixRouter({p: apis[n] for p, n in prefixes.items()}))
        return apis, router

    def _environment(self, router_url: str, kubeconfig: Path, s3_url: str,
                     alertmanager_url: str, admin_url: str) -> dict[str, str]:
        """The variables a client of this sandbox needs (the env file's content)."""
        from sandbox.s3 import ACCESS_KEY, SECRET_KEY

        assert self._git is not None
        env = {
            "IONOS_API_URL": router_url + IONOS_PREFIX,
            "IONOS_TOKEN": IONOS_TOKEN,
            "IONOS_USERNAME": IONOS_USERNAME,
            "IONOS_PASSWORD": IONOS_PASSWORD,
            "IONOS_MARIADB_URL": router_url + MARIADB_PREFIX,
            "IONOS_CERTMANAGER_URL": router_url + CERTMANAGER_PREFIX,
            "IONOS_DNS_URL": router_url + DNS_PREFIX,
            "IONOS_AUTH_URL": router_url + AUTH_PREFIX,
            "IONOS_POSTGRES_URL": router_url + POSTGRES_PREFIX,
            "KUBECONFIG": str(kubeconfig),
            "AWS_ENDPOINT_URL_S3": s3_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "ALERTMANAGER_URL": alertmanager_url,
            "PLATFORM_GIT_URL": self._git.url,
            "PLATFORM_GIT_BRANCH": "main",
            "PLATFORM_SPEC": str(self._git.spec_path),
            "MARIADB_PASSWORD": MARIADB_PASSWORD,
            "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
            "IONOS_INMEMORYDB_URL": router_url + INMEMORYDB_PREFIX,
            "IONOS_REGISTRY_URL": router_url + REGISTRY_PREFIX,
            "INMEMORYDB_PASSWORD": INMEMORYDB_PASSWORD,
            "SANDBOX_ADMIN_URL": admin_url,
            "SANDBOX_STATE_DIR": str(self.workdir),
        }
        world = self.world
        if world.mariadb_host:
            env["SANDBOX_MARIADB_HOST"] = world.mariadb_host
            env["SANDBOX_MARIADB_PORT"] = str(world.mariadb_port)
            env["SANDBOX_MARIADB_USER"] = world.extras["mariadb_admin_user"]
            env["SANDBOX_MARIADB_PASSWORD"] = world.extras["mariadb_admin_password"]
        if world.extras.get("redis_host"):
            env["SANDBOX_REDIS_HOST"] = str(world.extras["redis_host"])
            env["SANDBOX_REDIS_PORT"] = str(world.extras["redis_port"])
        if world.postgres_host:
            env["SANDBOX_POSTGRES_HOST"] = world.postgres_host
            env["SANDBOX_POSTGRES_PORT"] = str(world.postgres_port)
        return env

    def _start_vault(self) -> tuple[Any, dict[str, str]]:
        """Vault with KV v2 at ``secret/`` and the Kubernetes auth method: the role
        ``platform-ops`` admits the run ServiceAccount and may read ``secret/platform-ops/*``,
        as an operator would set it up; a token of that ServiceAccount is in the state
        directory, where a pod's projected token would be."""
        from sandbox.vault import Role, ServiceAccountIssuer, VaultService

        issuer = ServiceAccountIssuer()
        vault = VaultService(issuer)
        vault.roles["platform-ops"] = Role([VAULT_RUN_ACCOUNT[1]], [VAULT_RUN_ACCOUNT[0]],
                                           ["platform-ops"])
        vault.policies["platform-ops"] = {"secret/data/platform-ops/*": ["read"]}
        server = self._serve(vault)
        token_path = self.workdir / "serviceaccount-token"
        write_private(token_path, issuer.token(*VAULT_RUN_ACCOUNT, ttl=7 * 24 * 3600))
        return vault, {"VAULT_ADDR": server.url, "VAULT_K8S_ROLE": "platform-ops",
                       "VAULT_K8S_TOKEN_PATH": str(token_path),
                       "SANDBOX_VAULT_ROOT_TOKEN": vault.root_token}

    def _start_tls(self) -> dict[str, str]:
        from sandbox.tls import start_tls_endpoints

        endpoints = start_tls_endpoints(self.workdir / "tls")
        self._stoppers.append(endpoints.stop)
        self.tls = endpoints
        # Services that serve what they issue (cert-manager's Secrets) find the endpoints here.
        self.world.extras["tls"] = endpoints
        self._tls_certificates = _served_certificates(endpoints)
        return dict(endpoints.env())

    def _follow_tls_secret(self, names: list[str], cert_pem: str, key_pem: str,
                           ca_pem: str) -> None:
        """``World.on_tls_secret``: serve a cert-manager Secret on every TLS endpoint host it
        covers and trust its CA in ``SANDBOX_CA_BUNDLE``, as an ingress and its users would."""
        with self._tls_follow_lock:
            if self._tls_following is None:
                self._tls_follow_pending.append((names, cert_pem, key_pem, ca_pem))
                return
            _serve_secret(self._tls_following, names, cert_pem, key_pem, ca_pem)

    def _start_following_tls(self) -> None:
        with self._tls_follow_lock:
            self._tls_following = self.tls
            pending, self._tls_follow_pending = self._tls_follow_pending, []
            for call in pending:
                _serve_secret(self.tls, *call)

    def _seed_certificates(self, certmanager: Any) -> None:
        """Upload the TLS endpoints' certificates and those the seeded spec names to the
        Certificate Manager, as a user would."""
        add = getattr(certmanager, "add_certificate", None)
        if not callable(add):
            return
        for name, cert, chain in self._tls_certificates:
            add(name, cert, chain)
        if self._git is None or self.tls is None:
            return
        ca_pem = self.tls.ca.pem.decode()
        for name, host in _spec_ionos_certificates(self._git.spec_path):
            issued = self.tls.ca.issue([host], 60)
            add(name, issued.cert_pem.decode(), ca_pem)

    def reset_state(self) -> dict[str, str]:
        """Clear the state of every service (``POST /reset``); say what each did."""
        report: dict[str, str] = {}
        for name, svc in list(self.services.items()):
            reset = getattr(svc, "reset", None)
            if not callable(reset) and name not in self._recreate:
                report[name] = "not supported"
                continue
            try:
                if callable(reset):
                    reset()
                else:
                    self.services[name] = self._rebuild(name, svc)
                report[name] = "reset"
            except Exception as exc:  # report it; the other services still reset
                log.exception("sandbox: resetting %s failed", name)
                report[name] = f"failed: {exc}"
        if self._git is not None:
            from sandbox.git import seed_repository

            shutil.rmtree(self._git.bare, ignore_errors=True)
            shutil.rmtree(self._git.clone, ignore_errors=True)
            self._git = seed_repository(self.workdir, self.platform_source)
            report["git"] = "reset"
        # After the Git reset: the seeded spec names the certificates.
        if "certmanager" in self.services and report.get("certmanager") == "reset":
            self._seed_certificates(self.services["certmanager"])
        return report

    def _rebuild(self, name: str, old: Service) -> Service:
        server, factory = self._recreate[name]
        stop = getattr(old, "stop", None)
        if callable(stop):
            stop()
        state = self._service_state(name)
        if state is not None:
            shutil.rmtree(state)
        new = factory()
        server.replace_service(new)
        return new

    def _start_clusters(self) -> dict[str, str]:
        """Serve each existing cluster: its own API server, token, CA and state, no IONOS in
        its world (no node pools, no IONOS volumes, no IONOS CRDs); its kubeconfig's path goes
        into ``<NAME>_KUBECONFIG``, as an operator's would. Beside it, its own S3-compatible
        store (as the MinIO beside a K3s cluster): another S3 with keys of its own, its
        endpoint and keys in ``<NAME>_S3_ENDPOINT``, ``<NAME>_S3_ACCESS_KEY_ID`` and
        ``<NAME>_S3_SECRET_ACCESS_KEY``; the cluster's Velero and Longhorn reach it."""
        from sandbox.kubernetes.service import KubernetesService

        env: dict[str, str] = {}
        stores = self._start_stores()
        for name in self.clusters:
            world = World(kubernetes_token=secrets.token_urlsafe(24))
            store_url, store_env = stores[name]
            world.s3_url = store_url
            env.update(store_env)

            def build(world: World = world, name: str = name) -> Any:
                return KubernetesService(world, state_dir=self._service_state(f"kubernetes-{name}"),
                                         controller_delay=self.delay, managed=False,
                                         name=f"kubernetes-{name}", run_jobs=self.run_jobs)

            def restarted(build: Callable[[], Any] = build) -> Any:
                svc = build()
                svc.start_controllers()
                return svc

            svc = build()
            server = self._serve(svc)
            world.kubernetes_url = server.url
            svc.start_controllers()
            key = f"kubernetes-{name}"
            self.services[key] = svc
            self._recreate[key] = (server, restarted)
            self._stoppers.append(self._stopper(key))
            path = self.workdir / f"kubeconfig-{name}.yaml"
            write_private(path, svc.kubeconfig(server.url))
            env[cluster_kubeconfig_env(name)] = str(path)
            _wait_http(server.url + "/version", time.monotonic() + 10)
        return env

    def _start_stores(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Each existing cluster's S3 store, started side by side: its URL and variables."""
        from sandbox.s3 import S3Service

        stores = {name: S3Service(state_dir=self._service_state(f"s3-{name}"),
                                  keys={f"{name}-store-access-key": f"{name}-store-secret-key"},
                                  name=f"s3-{name}") for name in self.clusters}
        for svc in stores.values():
            self._stoppers.append(svc.stop)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-store") as pool:
            list(pool.map(lambda svc: svc.start(), stores.values()))
        out = {}
        for name, svc in stores.items():
            server = self._serve(svc)
            self.services[svc.name] = svc
            prefix = cluster_kubeconfig_env(name).removesuffix("_KUBECONFIG")
            (key_id, key), = svc.keys.items()
            out[name] = (server.url, {f"{prefix}_S3_ENDPOINT": server.url,
                                      f"{prefix}_S3_ACCESS_KEY_ID": key_id,
                                      f"{prefix}_S3_SECRET_ACCESS_KEY": key})
        return out

    def _stopper(self, key: str) -> Callable[[], None]:
        def stop() -> None:
            svc: Any = self.services[key]  # the one running now, after any reset
            svc.stop()

        return stop

    def _cluster_admin(self, name: str) -> Callable[[str, str, Any], tuple[int, Any]]:
        def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
            k8s: Any = self.services[f"kubernetes-{name}"]
            return k8s.behaviours.handle(method, path, body)  # type: ignore[no-any-return]

        return handle

    def _kubernetes_admin(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        k8s: Any = self.services["kubernetes"]
        return k8s.behaviours.handle(method, path, body)  # type: ignore[no-any-return]

    def write_env_file(self, path: Path) -> None:
        """Write ``env`` as KEY=VALUE lines, atomically (a reader never sees half a file), readable
        by its owner only: it holds every credential."""
        write_private(path.resolve(), "".join(f"{k}={_quote(v)}\n" for k, v in self.env.items()))

    def stop(self) -> None:
        """Stop every service (in parallel: each server takes up to half a second)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        for pending in self._pending:  # a failed start: let the other parts finish, then stop
            try:
                pending.result(timeout=30)
            except Exception:  # the start already reported its failure
                pass
        threads = [threading.Thread(target=s.stop, daemon=True) for s in self._servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=5)
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:  # stop the rest regardless
                log.exception("sandbox: stopping a service failed")
        FAULTS.clear()
        if self.state_dir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _served_certificates(endpoints: Any) -> list[tuple[str, str, str]]:
    """(name, leaf PEM, chain PEM) of each TLS case that serves a certificate."""
    import ssl

    ca_pem = endpoints.ca_bundle.read_text()
    out = []
    for case in endpoints.cases.values():
        if getattr(case, "not_after", None) is None:
            continue
        try:
            cert = ssl.get_server_certificate((case.address, case.port), timeout=2)
        except (OSError, ssl.SSLError):
            log.warning("sandbox: could not read the certificate of TLS case %s", case.name)
            continue
        chain = "" if case.expect == "untrusted-chain" else ca_pem
        out.append((f"sandbox-{case.name}", cert, chain))
    return out


def _served_hosts(endpoints: Any) -> list[str]:
    """The hosts the TLS endpoints answer per SNI: the valid case's host and the resolve map's
    hosts that point at its server."""
    valid = endpoints.cases.get("valid")
    if valid is None:
        return []
    hosts = [valid.host]
    for key, target in endpoints.resolve.items():
        host, _, _ = key.rpartition(":")
        if target.rpartition(":")[2] == str(valid.port):
            hosts.append(host)
    return list(dict.fromkeys(h.lower() for h in hosts))


def _name_matches(name: str, host: str) -> bool:
    """RFC 6125 matching: exact, or a ``*.`` wildcard standing for one leftmost label."""
    name, host = name.lower().rstrip("."), host.lower().rstrip(".")
    if name.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == name[2:]
    return name == host


def _serve_secret(endpoints: Any, names: list[str], cert_pem: str, key_pem: str,
                  ca_pem: str) -> None:
    if ca_pem.strip() and ca_pem.strip() not in endpoints.ca_bundle.read_text():
        endpoints.trust(ca_pem)
    for host in _served_hosts(endpoints):
        if any(_name_matches(n, host) for n in names):
            endpoints.set_certificate(host, cert_pem, key_pem)


def _spec_ionos_certificates(spec_path: Path) -> list[tuple[str, str]]:
    """(IONOS name, host) of each ``certificates.items[*]`` with an ``ionos`` section of the spec
    at ``spec_path``; an unreadable spec seeds nothing (and says why in the log)."""
    import yaml

    try:
        spec = yaml.safe_load(spec_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        log.warning("sandbox: %s: cannot read the spec to seed IONOS certificates: %s",
                    spec_path, exc)
        return []
    section = spec.get("certificates") if isinstance(spec, dict) else None
    items = section.get("items") if isinstance(section, dict) else None
    out = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        ionos = item.get("ionos") if isinstance(item, dict) else None
        if not isinstance(ionos, dict) or not ionos.get("name"):
            continue
        endpoint = item.get("endpoint")
        host = item.get("hostname") or (endpoint.get("host") if isinstance(endpoint, dict)
                                        else None)
        if not host:
            log.warning("sandbox: %s: certificates.items[%d] names no hostname or endpoint "
                        "host; its IONOS certificate is not seeded", spec_path, i)
            continue
        out.append((str(ionos["name"]), str(host)))
    return out


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 from the first byte (a file of
    credentials is never readable by others, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is only used for a new file
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _kubernetes_token(state_dir: Path | None) -> str:
    """The Kubernetes API's bearer token: random, and kept in the state directory so that a
    kubeconfig taken before a restart still works after it."""
    token = secrets.token_urlsafe(24)
    if state_dir is None:
        return token
    path = state_dir / "kubernetes-token"
    try:
        saved = path.read_text().strip()
    except FileNotFoundError:
        saved = ""
    if saved:
        return saved
    write_private(path, token + "\n")
    return token


def _quote(value: str) -> str:
    """Values are plain; quote only what a POSIX shell's ``.`` would otherwise split."""
    if any(c in value for c in " \t\"'$`\\#;&|<>()*?[]{}~"):
        return "'" + value.replace("'", "'\"'\"'") + "'"
    return value


def start_sandbox(state_dir: Path | None = None, delay: float = 0.0, run_jobs: bool = False,
                  platform_source: Path | None = None, timeout: float = 20.0,
                  preinstall_crds: bool = False, clusters: tuple[str, ...] = ()) -> Sandbox:
    """Start the whole sandbox in this process and return it once every service answers;
    ``clusters`` names existing (non-IONOS) Kubernetes clusters to serve beside it."""
    return Sandbox(state_dir=state_dir, delay=delay, run_jobs=run_jobs,
                   platform_source=platform_source, preinstall_crds=preinstall_crds,
                   clusters=clusters).start(timeout=timeout)


def cluster_kubeconfig_env(name: str) -> str:
    """The variable holding the kubeconfig path of the existing cluster ``name``:
    ``STAGING_KUBECONFIG`` for ``staging``."""
    return f"{name.upper().replace('-', '_')}_KUBECONFIG"

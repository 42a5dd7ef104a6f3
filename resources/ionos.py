"""IonosCloudResource: the IONOS Cloud API v6, DBaaS MariaDB v2 and Certificate Manager v2.

Clients are built on first use (the SDKs are imported lazily). The SDK's own retry loop is
turned down to a single attempt, because its defaults sleep 100 s between 5xx retries and raise
``KeyError`` on a 429 without Retry-After; retries happen here instead, bounded and explicit
(``resources.retry``), and honour Retry-After.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
from pydantic import PrivateAttr

from resources.retry import RetryPolicy, call_with_retry

T = TypeVar("T")

_REQUEST_ID = re.compile(r"/requests/([-A-Fa-f0-9]+)/")


class IonosRequestFailed(RuntimeError):
    """An asynchronous IONOS request ended FAILED or did not finish in time."""


def _with_api_path(url: str, path: str) -> str:
    url = url.rstrip("/")
    # The Python SDK uses the host verbatim; the Go SDK and Terraform append /cloudapi/v6 when
    # IONOS_API_URL lacks it, so accept both spellings.
    return url if url.endswith(path) else url + path


class IonosCloudResource(dg.ConfigurableResource):
    """IONOS Cloud credentials and endpoints. Token (Bearer) or username/password (Basic)."""

    api_url: str = "https://api.ionos.com/cloudapi/v6"
    mariadb_url: str = "https://mariadb.de-fra.ionos.com/v2"
    certmanager_url: str = "https://certificate-manager.de-fra.ionos.com"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    retry_attempts: int = 6
    retry_max_wait_seconds: float = 30.0
    request_timeout_seconds: float = 1800.0
    poll_interval_seconds: float = 1.0
    http_timeout_seconds: float = 60.0

    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    # ------------------------------------------------------------------ clients

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, base_delay=0.5,
                           max_delay=self.retry_max_wait_seconds)

    def _configure(self, cfg: Any, bearer_only: bool) -> Any:
        if self.token:
            cfg.token = self.token
        elif not bearer_only:
            cfg.username = self.username
            cfg.password = self.password
        if hasattr(cfg, "max_retries"):
            cfg.max_retries = 1
            cfg.wait_time = 1
            cfg.max_wait_time = int(self.retry_max_wait_seconds)
        return cfg

    def cloud_client(self) -> Any:
        """The ``ionoscloud.ApiClient`` (Cloud API v6), built on first use."""
        if "cloud" not in self._clients:
            import ionoscloud

            if not (self.token or (self.username and self.password)):
                raise ValueError("IONOS credentials missing: set IONOS_TOKEN, or IONOS_USERNAME "
                                 "and IONOS_PASSWORD")
            cfg = ionoscloud.Configuration(
                host=_with_api_path(self.api_url, "/cloudapi/v6"),
                token=self.token or None,
                username=None if self.token else self.username,
                password=None if self.token else self.password,
            )
            self._configure(cfg, bearer_only=False)
            self._clients["cloud"] = ionoscloud.ApiClient(cfg)
        return self._clients["cloud"]

    def mariadb_client(self) -> Any:
        """The ``ionoscloud_dbaas_mariadb.ApiClient`` (MariaDB API v2, Bearer only)."""
        if "mariadb" not in self._clients:
            import ionoscloud_dbaas_mariadb as mdb

            if not self.token:
                raise ValueError("the IONOS DBaaS MariaDB API takes a token only: set IONOS_TOKEN")
            cfg = mdb.Configuration(host=self.mariadb_url.rstrip("/"), token=self.token)
            self._clients["mariadb"] = mdb.ApiClient(cfg)
        return self._clients["mariadb"]

    def certmanager_client(self) -> Any:
        """The ``ionoscloud_cert_manager.ApiClient`` (Certificate Manager API v2, Bearer only)."""
        if "certmanager" not in self._clients:
            import ionoscloud_cert_manager as cm

            if not self.token:
                raise ValueError("the IONOS Certificate Manager API takes a token only: set "
                                 "IONOS_TOKEN")
            cfg = cm.Configuration(host=self.certmanager_url.rstrip("/"), token=self.token)
            self._clients["certmanager"] = cm.ApiClient(cfg)
        return self._clients["certmanager"]

    def api(self, name: str) -> Any:
        """An API class of the Cloud SDK by name, e.g. ``api("KubernetesApi")``."""
        import ionoscloud

        key = f"api:{name}"
        if key not in self._clients:
            self._clients[key] = getattr(ionoscloud, name)(self.cloud_client())
        return self._clients[key]

    # ------------------------------------------------------------------ calls

    def call(self, describe: str, fn: Callable[[], T],
             log: Callable[[str], Any] | None = None) -> T:
        """Run one SDK call with bounded retries of transient errors.

        Args:
            describe: the request in words, e.g. ``"POST /datacenters (k8s-production)"``; the
                error after the last attempt names it. Never include secrets.
            fn: the SDK call.
            log: receives one line per retry.
        """
        return call_with_retry(fn, describe, self.retry_policy, on_retry=log)

    def write(self, describe: str, fn: Callable[[], Any],
              log: Callable[[str], Any] | None = None) -> tuple[Any, str | None]:
        """Run a ``*_with_http_info`` write; return (body, request id from the Location header)."""
        body, _status, headers = self.call(describe, fn, log)
        location = headers.get("Location") if headers else None
        m = _REQUEST_ID.search(location or "")
        return body, (m.group(1) if m else None)

    def wait_for_request(self, request_id: str | None, describe: str,
                         sleep: Callable[[float], Any] = time.sleep,
                         clock: Callable[[], float] = time.monotonic) -> None:
        """Poll ``/requests/{id}/status`` until DONE; raise on FAILED or after the timeout."""
        if not request_id:
            return
        deadline = clock() + self.request_timeout_seconds
        delay = self.poll_interval_seconds
        while True:
            status = self.call(
                f"GET /requests/{request_id}/status ({describe})",
                lambda: self.api("RequestsApi").requests_status_get(request_id),
            )
            state = status.metadata.status if status and status.metadata else None
            if state == "DONE":
                return
            if state == "FAILED":
                raise IonosRequestFailed(
                    f"{describe}: IONOS request {request_id} FAILED: {status.metadata.message}")
            if clock() > deadline:
                raise IonosRequestFailed(
                    f"{describe}: IONOS request {request_id} still {state} after "
                    f"{self.request_timeout_seconds:.0f}s")
            sleep(delay)
            delay = min(delay * 2, 10.0)

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = lambda _: None,
                   sleep: Callable[[float], Any] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> T:
        """Poll ``fetch`` until ``ready`` (k8s clusters and node pools are not tracked by
        ``/requests``: like Terraform, poll the resource until ACTIVE)."""
        deadline = clock() + self.request_timeout_seconds
        delay = self.poll_interval_seconds
        while True:
            obj = self.call(describe, fetch)
            if ready(obj):
                return obj
            why = failed(obj)
            if why:
                raise IonosRequestFailed(f"{describe}: {why}")
            if clock() > deadline:
                raise IonosRequestFailed(f"{describe}: not ready after "
                                         f"{self.request_timeout_seconds:.0f}s")
            sleep(delay)
            delay = min(delay * 2, 10.0)

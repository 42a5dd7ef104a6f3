"""AlertmanagerResource: the Alertmanager API v2 (alerts in, alerts out), over HTTP or HTTPS.

Reads active alerts for the remediation sensor and posts alerts (escalations, failed runs) so
they reach people through the routing Alertmanager already has. Basic or Bearer auth, as
Alertmanager's web config (``basic_auth_users``) or a proxy in front of it asks: given as fields
(``dg.EnvVar``) or, when the fields are unset, read from the environment when the resource is
used: ``$ALERTMANAGER_TOKEN`` (Bearer), else ``$ALERTMANAGER_USERNAME`` and
``$ALERTMANAGER_PASSWORD`` (Basic). HTTPS always verifies the server's certificate, against the
system CAs or ``ca_file`` (``$ALERTMANAGER_CA_FILE``). The URL is ``$ALERTMANAGER_URL`` unless
set. Credentials never appear in errors or logs.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.parse
from typing import Any

from resources.config import AlertmanagerConfig


class AlertmanagerUnavailable(RuntimeError):
    """Alertmanager could not be reached or answered with an error; the message says which."""


class AlertmanagerResource(AlertmanagerConfig):
    """Alertmanager API v2 endpoint (default URL ``$ALERTMANAGER_URL``)."""

    def open(self) -> AlertmanagerResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    def base_url(self) -> str:
        """The configured URL or ``$ALERTMANAGER_URL``, without a trailing slash."""
        url = self.url or os.environ.get("ALERTMANAGER_URL")
        if not url:
            raise AlertmanagerUnavailable(
                "no Alertmanager URL: set ALERTMANAGER_URL or the alertmanager resource's url")
        return url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        env = os.environ.get
        token = self.bearer_token or env("ALERTMANAGER_TOKEN")
        username = self.username if self.username is not None else env("ALERTMANAGER_USERNAME")
        password = self.password if self.password is not None else env("ALERTMANAGER_PASSWORD")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif username and password is not None:
            raw = f"{username}:{password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return headers

    def _tls_context(self) -> ssl.SSLContext | None:
        """For https: verification on (hostname and chain), with the configured CA if any."""
        if not self.base_url().lower().startswith("https://"):
            return None
        ca_file = self.ca_file or os.environ.get("ALERTMANAGER_CA_FILE") or None
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise AlertmanagerUnavailable(
                f"cannot read the Alertmanager CA file {ca_file}: {exc}") from None

    def _request(self, method: str, path: str, body: Any = None,
                 query: list[tuple[str, str]] | None = None) -> Any:
        url = self.base_url() + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        describe = f"{method} {self.base_url()}{path}"
        context = self._tls_context()

        # Imported here: urllib.request (with http.client and email) is a noticeable part of
        # loading the code location, and only a sensor tick calls Alertmanager.
        from urllib.error import HTTPError, URLError
        from urllib.request import Request, urlopen

        from resources.retry import RetryPolicy, call_with_retry

        def call() -> Any:
            req = Request(url, data=data, method=method, headers=headers)
            with urlopen(req, timeout=self.timeout_seconds, context=context) as resp:
                payload = resp.read(self.max_response_bytes + 1)
            if len(payload) > self.max_response_bytes:
                raise AlertmanagerUnavailable(f"{describe} answered more than "
                                              f"{self.max_response_bytes} bytes; not read")
            return json.loads(payload) if payload.strip() else None

        try:
            return call_with_retry(call, describe, RetryPolicy(attempts=self.retry_attempts,
                                                              base_delay=0.2, max_delay=2.0))
        except HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace").strip()
            raise AlertmanagerUnavailable(f"{describe} answered {exc.code}: {detail}") from None
        except AlertmanagerUnavailable:
            raise
        except (URLError, OSError, ValueError, RuntimeError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise AlertmanagerUnavailable(f"Alertmanager unreachable ({describe}): {reason}"
                                          ) from None

    def active_alerts(self, filters: list[str] | None = None,
                      receiver: str | None = None) -> list[dict[str, Any]]:
        """Active alerts that are neither silenced nor inhibited (gettableAlert dicts).

        Args:
            filters: label matchers such as ``alertname="KubePodCrashLooping"``.
            receiver: a regex on receiver names.

        Raises:
            AlertmanagerUnavailable: the API cannot be reached or answered an error.
        """
        query = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        query += [("filter", f) for f in filters or []]
        if receiver:
            query.append(("receiver", receiver))
        out = self._request("GET", "/api/v2/alerts", query=query)
        if not isinstance(out, list):
            raise AlertmanagerUnavailable(
                f"GET {self.base_url()}/api/v2/alerts answered {type(out).__name__}, not a list")
        return out

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Post alerts (postableAlert dicts: labels, annotations, startsAt, endsAt, ...)."""
        self._request("POST", "/api/v2/alerts", body=alerts)

    def status(self) -> dict[str, Any]:
        """``/api/v2/status``: version, cluster state and configuration."""
        out = self._request("GET", "/api/v2/status")
        return out if isinstance(out, dict) else {}

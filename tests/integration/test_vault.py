"""Credentials from HashiCorp Vault (issue 19): ``NAME_VAULT=<mount>/<path>#<key>`` read through
the real ``hvac`` client from the sandbox's Vault, logged in with the Kubernetes auth method.

The sandbox's Vault follows Vault's HTTP API documentation (developer.hashicorp.com/vault/
api-docs): ``POST /v1/auth/kubernetes/login`` with ``role`` and ``jwt`` (api-docs/auth/kubernetes,
"Login"; the JWT verified against the cluster's public key as with ``pem_keys``, and the role's
``bound_service_account_names``/``_namespaces``), ``GET /v1/secret/data/<path>`` for KV v2
(api-docs/secret/kv/kv-v2, "Read secret version"), 403 ``{"errors": ["permission denied"]}``
for a token or path that is not allowed and 404 for a path never written (api-docs, "HTTP status
codes")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from resources import vault as vault_module
from resources.credentials import CredentialError, secret

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vault_env(sandbox: Any, sandbox_env: dict[str, str]) -> dict[str, str]:
    vault_module._tokens.clear()  # each test logs in afresh
    root = hvac.Client(url=sandbox_env["VAULT_ADDR"], token=sandbox_env["SANDBOX_VAULT_ROOT_TOKEN"])
    root.secrets.kv.v2.create_or_update_secret(
        path="platform-ops/ionos", secret={"token": sandbox_env["IONOS_TOKEN"]},
        mount_point="secret")
    root.secrets.kv.v2.create_or_update_secret(
        path="elsewhere/db", secret={"password": "not-for-platform-ops"}, mount_point="secret")
    return {k: sandbox_env[k] for k in ("VAULT_ADDR", "VAULT_K8S_ROLE", "VAULT_K8S_TOKEN_PATH")}


def test_a_secret_read_with_the_service_account_login(vault_env: dict[str, str],
                                                      sandbox_env: dict[str, str]) -> None:
    env = {**vault_env, "IONOS_TOKEN_VAULT": "secret/platform-ops/ionos#token"}
    assert secret("IONOS_TOKEN", env) == sandbox_env["IONOS_TOKEN"]
    assert len(vault_module._tokens) == 1  # the login is kept for the process
    assert secret("IONOS_TOKEN", env) == sandbox_env["IONOS_TOKEN"]


def test_refusals_are_clear_errors_that_never_show_a_value(vault_env: dict[str, str]) -> None:
    # A path the role's policy does not grant.
    with pytest.raises(CredentialError, match=r"X_VAULT: Vault refused to read secret/elsewhere"
                                              r"/db .*permission denied") as refused:
        secret("X", {**vault_env, "X_VAULT": "secret/elsewhere/db#password"})
    assert "not-for-platform-ops" not in str(refused.value)
    with pytest.raises(CredentialError, match="no secret at secret/platform-ops/nothing"):
        secret("X", {**vault_env, "X_VAULT": "secret/platform-ops/nothing#token"})
    with pytest.raises(CredentialError, match=r"has no non-empty text field 'password' "
                                              r"\(its fields: token\)"):
        secret("X", {**vault_env, "X_VAULT": "secret/platform-ops/ionos#password"})
    with pytest.raises(CredentialError, match="expected <mount>/<path>#<key>"):
        secret("X", {**vault_env, "X_VAULT": "secret/platform-ops/ionos"})


def test_a_service_account_the_role_does_not_bind_cannot_log_in(
        sandbox: Any, vault_env: dict[str, str], tmp_path: Path) -> None:
    issuer = sandbox.app.services["vault"].issuer
    other = tmp_path / "token"
    other.write_text(issuer.token("kube-system", "default"))
    env = {**vault_env, "VAULT_K8S_TOKEN_PATH": str(other),
           "IONOS_TOKEN_VAULT": "secret/platform-ops/ionos#token"}
    with pytest.raises(CredentialError, match="role platform-ops\\) failed: .*service account "
                                              "name not authorized"):
        secret("IONOS_TOKEN", env)
    # A token signed by anyone but the cluster is refused as well.
    head, body, _ = issuer.token("platform-ops-runs", "platform-ops-runner").split(".")
    other.write_text(f"{head}.{body}.AAAA")
    with pytest.raises(CredentialError, match="permission denied"):
        secret("IONOS_TOKEN", env)
    # The same token Vault's own client sends: refused at the HTTP level too.
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=vault_env["VAULT_ADDR"]).auth.kubernetes.login(
            role="platform-ops", jwt=other.read_text())


def test_the_plan_cli_runs_with_the_ionos_token_only_in_vault(
        sandbox: Any, vault_env: dict[str, str], sandbox_env: dict[str, str]) -> None:
    sandbox.reset_counts()
    env = {k: v for k, v in {**os.environ, **sandbox_env}.items()
           if k not in ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD")}
    env["IONOS_TOKEN_VAULT"] = "secret/platform-ops/ionos#token"
    done = subprocess.run([sys.executable, "-m", "platform_assets", "plan", "--spec",
                           str(ROOT / "platform" / "platform.yaml")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    # 0 (no changes) or 2 (changes): either way the IONOS API accepted the token from Vault.
    assert done.returncode in (0, 2), done.stdout[-2000:] + done.stderr[-2000:]
    assert sandbox.requests()["ionos"]["GET"] > 0
    assert sandbox_env["IONOS_TOKEN"] not in done.stdout + done.stderr

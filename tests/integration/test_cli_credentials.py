"""The plan CLI with the credential conventions platform engineers use, against the sandbox:
only IONOS_USERNAME/IONOS_PASSWORD (Basic on the Cloud API and, as their Node SDKs document, on
the DBaaS MariaDB and Certificate Manager APIs), S3 keys from a profile of the shared credentials
file, and Kubernetes from ~/.kube/config at a named context or from the IONOS cluster; an
environment of a fleet that names its own IONOS token variable reads that one only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.core.plan_report import EXIT_CHANGES
from tests.integration.test_reconcile import EXAMPLE, instance_at, make_defs, run, writes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DROPPED = ("IONOS_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "KUBECONFIG")


def _plan(sandbox_env: dict[str, str], home: Path, spec: Path = EXAMPLE,
          args: tuple[str, ...] = (), **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in {**os.environ, **sandbox_env}.items() if k not in DROPPED}
    shared = home / ".aws" / "credentials"
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_text(f"[ionos-sandbox]\naws_access_key_id = {sandbox_env['AWS_ACCESS_KEY_ID']}\n"
                      f"aws_secret_access_key = {sandbox_env['AWS_SECRET_ACCESS_KEY']}\n")
    env.update(HOME=str(home), AWS_PROFILE="ionos-sandbox", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(home / ".aws" / "config"), **extra)
    env.pop("AWS_SHARED_CREDENTIALS_FILE", None)
    return subprocess.run([sys.executable, "-m", "platform_assets", "plan", "--spec",
                           str(spec), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_plan_with_only_username_password_a_profile_and_a_context(
        sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    sandbox.reset()
    with instance_at(tmp_path / "dagster") as instance:
        assert run(make_defs(EXAMPLE, sandbox_env), instance).success
    sandbox.reset_counts()

    # Kubernetes from the IONOS cluster's kubeconfig (fetched with Basic auth, kept in memory).
    home = tmp_path / "home"
    from_ionos = _plan(sandbox_env, home)
    assert from_ionos.returncode == 0, from_ionos.stdout + from_ionos.stderr
    assert "No changes." in from_ionos.stdout
    assert "kubernetes: the spec's IONOS cluster" in from_ionos.stderr
    counts = sandbox.requests()
    assert counts["kubernetes"]["GET"] > 0 and counts["ionos"]["GET"] > 0
    assert writes(counts) == {}

    # Only ~/.kube/config and a context (not its current one).
    config = yaml.safe_load(Path(sandbox_env["KUBECONFIG"]).read_text())
    config["contexts"].insert(0, {"name": "elsewhere", "context": {"cluster": "nowhere",
                                                                  "user": "nobody"}})
    config["clusters"].append({"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}})
    config["users"].append({"name": "nobody", "user": {"token": "x"}})
    config["current-context"] = "elsewhere"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(yaml.safe_dump(config))
    with_context = _plan(sandbox_env, home, PLATFORM_KUBE_CONTEXT="sandbox")
    assert with_context.returncode == 0, with_context.stdout + with_context.stderr
    assert "No changes." in with_context.stdout
    assert f"kubernetes: kubeconfig {home}/.kube/config, context sandbox" in with_context.stderr


def test_wrong_password_is_a_clear_401(sandbox: Any, sandbox_env: dict[str, str],
                                       tmp_path: Path) -> None:
    sandbox.reset()
    bad = _plan(sandbox_env, tmp_path, IONOS_PASSWORD="pw-never-printed-7d1f")
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "401" in bad.stderr
    assert "pw-never-printed-7d1f" not in bad.stderr + bad.stdout


def test_an_environment_reads_its_own_ionos_token_and_no_other(
        sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    sandbox.reset()
    shutil.copytree(ROOT / "examples" / "fleet", tmp_path / "fleet")
    spec = tmp_path / "fleet" / "platform.yaml"
    text = spec.read_text()
    old = "    ionos:\n      datacenter: {name: fleet-production"
    assert old in text
    spec.write_text(text.replace(old, "    ionos:\n      credentials: {token_env: "
                                      "PRODUCTION_IONOS_TOKEN}\n      datacenter: "
                                      "{name: fleet-production"))
    token_file = tmp_path / "production-token"
    token_file.write_text(sandbox_env["IONOS_TOKEN"] + "\n")
    production = ("--environment", "production")

    # Its own variable, as a mounted Secret's file; IONOS_TOKEN is not set at all.
    own = _plan(sandbox_env, tmp_path / "home", spec, production,
                PRODUCTION_IONOS_TOKEN_FILE=str(token_file))
    assert own.returncode == EXIT_CHANGES, own.stdout + own.stderr  # read; all to create
    assert "production/ionos/datacenter: 1 to create" in own.stdout
    assert sandbox.requests()["ionos"]["GET"] > 0

    # The shared IONOS_TOKEN (maybe another account's) is never used in its place.
    shared = _plan(sandbox_env, tmp_path / "home", spec, production,
                   IONOS_TOKEN=sandbox_env["IONOS_TOKEN"])
    assert shared.returncode == 1
    assert ("environment production: IONOS credentials missing (none is set): set "
            "PRODUCTION_IONOS_TOKEN") in shared.stderr
    assert "Traceback" not in shared.stderr

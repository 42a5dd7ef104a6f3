"""The production reload path against a real local ``dagster-webserver``: the code location reads
its spec from a checkout; a component added there appears after ``request_reload`` (the
git_changes sensor's call: ``DagsterGraphQLClient.reload_repository_location`` at
``$DAGSTER_WEBSERVER_INTERNAL_URL``); an unreachable or unset endpoint is a message, not an
error."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.names import CODE_LOCATION
from sensors.ticks.git_changes import RELOAD_URL_ENV, request_reload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GUESTBOOK = ("\n  - name: guestbook\n    namespace: services\n"
             "    source: {kustomization: {path: ./apps/guestbook}}\n\nbackups:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _asset_paths(url: str) -> set[tuple[str, ...]]:
    body = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = json.loads(resp.read())
    return {tuple(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout of the example platform, as ``platform-ops checkout`` writes it."""
    where = tmp_path_factory.mktemp("checkout") / "platform"
    shutil.copytree(ROOT / "platform", where)
    return where


@pytest.fixture(scope="module")
def webserver(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    workspace = home / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: "
                         f"platform_assets.definitions\n      location_name: {CODE_LOCATION}\n"
                         f"      working_directory: {ROOT}\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home),
           "PLATFORM_SPEC": str(checkout / "platform.yaml")}
    log = home / "webserver.log"
    exe = Path(sys.executable).parent / "dagster-webserver"
    with log.open("w") as out:
        proc = subprocess.Popen([str(exe), "-w", str(workspace), "-h", "127.0.0.1", "-p",
                                 str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dagster-webserver did not start:\n{log.read_text()[-3000:]}")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_component_added_to_the_checkout_appears_after_the_reload(
        webserver: str, checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guestbook = ("applications", "guestbook")
    assert guestbook not in _asset_paths(webserver)
    spec = checkout / "platform.yaml"
    spec.write_text(spec.read_text().replace("\nbackups:", GUESTBOOK, 1))
    assert guestbook not in _asset_paths(webserver)  # loaded once, until reloaded

    monkeypatch.setenv(RELOAD_URL_ENV, webserver)
    assert request_reload(CODE_LOCATION) == f"reload of {CODE_LOCATION} through {webserver}: " \
                                            "SUCCESS"
    assert guestbook in _asset_paths(webserver)


def test_reload_problems_are_messages(webserver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RELOAD_URL_ENV, raising=False)
    assert request_reload(CODE_LOCATION).startswith(f"{RELOAD_URL_ENV} is not set")
    monkeypatch.setenv(RELOAD_URL_ENV, f"http://127.0.0.1:{_free_port()}")
    assert " failed: " in request_reload(CODE_LOCATION, timeout=5)
    monkeypatch.setenv(RELOAD_URL_ENV, webserver)
    unknown = request_reload("no_such_location")
    assert unknown.startswith("reload of no_such_location through ") and "SUCCESS" not in unknown


def test_checkout_writes_the_newest_commit_with_a_valid_spec(tmp_path: Path) -> None:
    """``platform-ops checkout`` (the init container of the code server and run pods)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "platform", repo)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True, env={**os.environ, "GIT_AUTHOR_NAME": "t",
                                              "GIT_AUTHOR_EMAIL": "t@example.com",
                                              "GIT_COMMITTER_NAME": "t",
                                              "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "valid")
    good = git("rev-parse", "HEAD").strip()
    (repo / "platform.yaml").write_text((repo / "platform.yaml").read_text()
                                        .replace("metadata:", "metadta:", 1))
    git("commit", "-q", "-am", "broken")
    dest = tmp_path / "checkout"
    env = {**os.environ, "PLATFORM_GIT_URL": str(repo), "PLATFORM_GIT_CACHE": str(tmp_path / "c"),
           "PLATFORM_GIT_CHECKOUT": str(dest)}
    env.pop("PLATFORM_SPEC", None)
    proc = subprocess.run([sys.executable, "-m", "platform_assets", "checkout"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"checkout: {good} of main in {dest}")
    assert "skipping " in proc.stderr and "invalid spec" in proc.stderr
    assert (dest / "platform.yaml").read_text() == (ROOT / "platform" / "platform.yaml").read_text()
    assert (dest / ".platform-ops-commit").read_text().strip() == good

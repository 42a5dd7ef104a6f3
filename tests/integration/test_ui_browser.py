"""The Dagster UI on the sandbox in headless Chromium: the asset graph's groups, a launched run."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = ROOT / "docs" / "images" / "asset-graph.png"
FLEET_SCREENSHOT = ROOT / "docs" / "images" / "fleet-status.png"
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"
GROUPS = ("infrastructure", "platform", "applications", "backups", "certificates")
TERMINAL = ("Success", "Failure", "Canceled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve_ui(env: dict[str, str], home: Path) -> Iterator[str]:
    """``dagster-webserver`` on the shipped workspace with ``env``; yields its URL."""
    if not os.path.exists(CHROMIUM):
        missing_service(f"{CHROMIUM} is missing: `apt-get install chromium` to run the UI tests")
    # Runs launch straight from the webserver (no daemon to dequeue them); no first-run dialog.
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
        "nux:\n  enabled: false\ntelemetry:\n  enabled: false\n")
    port = _free_port()
    log = home / "webserver.log"
    exe = Path(sys.executable).parent / "dagster-webserver"
    with log.open("w") as out:
        proc = subprocess.Popen([str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
                                 str(port)], cwd=ROOT, env={**env, "DAGSTER_HOME": str(home)},
                                stdout=out, stderr=subprocess.STDOUT)
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


@pytest.fixture(scope="module")
def webserver(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dagster-webserver`` on the shipped workspace, with the sandbox's environment."""
    with _serve_ui({**os.environ, **sandbox.env}, tmp_path_factory.mktemp("dagster_home")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        missing_service(f"{CHROMIUM} is missing: `apt-get install chromium` to run the UI tests")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_asset_graph_shows_our_groups(webserver: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 810})
    page.goto(f"{webserver}/asset-groups", wait_until="networkidle", timeout=120_000)
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
    # Each group is a box of the graph (collapsed when there are this many assets), with the
    # number of its assets; the group list beside it names them too.
    page.get_by_text("Hide navigation").click()
    graph_text = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        graph_text = page.locator("body").inner_text()
        if all(graph_text.count(g) >= 2 for g in GROUPS):
            break
        time.sleep(1)
    assert all(graph_text.count(g) >= 2 for g in GROUPS), graph_text[:2000]
    page.wait_for_load_state("networkidle")
    time.sleep(2)  # the graph animates its layout
    # The README's picture is refreshed only on request, so a test run leaves the tree clean.
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "graph.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    page.close()


def test_a_materialization_launched_from_the_ui_finishes(webserver: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{webserver}/assets/ionos/datacenter", wait_until="networkidle", timeout=120_000)
    page.get_by_text("Loaded", exact=False).first.wait_for(timeout=60_000)
    # Wait for the launch mutation's answer before leaving the page.
    with page.expect_response(lambda r: "op=LaunchPipelineExecution" in r.url,
                              timeout=60_000) as launched:
        page.locator("button:has-text('Materialize')").first.click()
    assert launched.value.ok
    assert "LaunchRunSuccess" in launched.value.text(), launched.value.text()[:500]
    # The run appears in the UI's run list; its page shows the run's status.
    page.goto(f"{webserver}/runs", wait_until="networkidle", timeout=60_000)
    run_link = page.locator("a[href^='/runs/'] >> visible=true").first
    run_link.wait_for(timeout=60_000)
    page.goto(f"{webserver}{run_link.get_attribute('href')}", wait_until="networkidle")
    status = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        header = page.locator("body").inner_text()
        status = next((s for s in TERMINAL if f"\n{s}\n" in f"\n{header}\n"), "")
        if status:
            break
        time.sleep(3)
    assert status, "the run did not reach a terminal state in the UI"
    # Reconciling the datacenter needs only the sandbox's IONOS API, which the webserver's
    # runs are pointed at.
    assert status == "Success", f"the run ended {status}"
    page.close()


@pytest.mark.timeout(1200)
def test_the_ui_shows_each_environments_status(browser: Any, tmp_path: Path,
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """examples/fleet: staging reconciled and green, production's run failed (its IONOS API
    failing); the asset list says so per environment, each asset under its environment."""
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from sandbox.app import start_sandbox

    sb = start_sandbox(clusters=("staging",), timeout=120.0)
    home = tmp_path_factory.mktemp("fleet_home")
    env = {**os.environ, **sb.env, "PLATFORM_SPEC": str(FLEET)}
    try:
        sb.admin.add_nodes(pool="k3s", count=3, cluster="staging")
        with contextlib.ExitStack() as stack:
            for key, value in env.items():
                stack.enter_context(_set_env(key, value))
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
            defs = build_definitions(FLEET)
            staging = defs.resolve_job_def("reconcile_platform_staging").execute_in_process(
                instance=instance, raise_on_error=False)
            assert staging.success
            sb.admin.set_fault("ionos", error_rate=1.0, statuses=[503], retry_after=0)
            production = defs.resolve_job_def("reconcile_platform_production").execute_in_process(
                instance=instance, raise_on_error=False)
            sb.admin.clear_faults()
            assert not production.success
        with _serve_ui(env, home) as url:
            # What the UI shows, as its GraphQL API answers it: staging's assets materialized,
            # production's never (its run failed).
            latest = _latest_materializations(url)
            assert latest["staging/applications/hello"] and latest["staging/platform/ingress"]
            assert not latest["production/applications/hello"]
            assert not latest["production/ionos/datacenter"]
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{url}/assets", wait_until="networkidle", timeout=120_000)
            text = ""
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:  # the catalog fills in as its queries answer
                text = page.locator("body").inner_text()
                if "staging" in text and "production" in text:
                    break
                time.sleep(2)
            page.screenshot(path=str(tmp_path / "catalog.png"), full_page=True)
            assert "staging" in text and "production" in text, text[:1500]
            page.wait_for_load_state("networkidle")
            time.sleep(3)
            shot = (FLEET_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1"
                    else tmp_path / "fleet.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            page.close()
    finally:
        sb.stop()


def _latest_materializations(url: str) -> dict[str, bool]:
    """Whether each asset has a materialization, from the webserver's GraphQL API."""
    import json

    query = ("{ assetsOrError { ... on AssetConnection { nodes { key { path } "
             "assetMaterializations(limit: 1) { runId } } } } }")
    req = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - 127.0.0.1
        nodes = json.loads(resp.read())["data"]["assetsOrError"]["nodes"]
    return {"/".join(n["key"]["path"]): bool(n["assetMaterializations"]) for n in nodes}


@contextlib.contextmanager
def _set_env(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old

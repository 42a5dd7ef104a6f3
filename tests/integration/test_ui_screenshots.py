"""The README's pictures, taken in the Dagster UI on the sandbox: WordPress's lineage with its
groups expanded, a reconcile plan in the materialization's metadata, and a plot of a certificate's
days left over several audits. Each test asserts what its picture shows."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest

# The webserver and browser fixtures of the UI test (module-scoped: this module gets its own).
from tests.integration.test_ui_browser import browser, webserver  # noqa: F401

pytestmark = [
    pytest.mark.integration, pytest.mark.slow,
    # The first test's setup includes the webserver's start and a reconcile, the plot's four
    # audits: each a run the webserver launches in a process of its own.
    pytest.mark.timeout(600),
    # One worker runs all three (pytest -n 2 --dist loadgroup), so the webserver starts and the
    # platform is reconciled once, not once per worker.
    pytest.mark.xdist_group(name="ui_screenshots"),
    # dagster_graphql's client calls gql the way gql 3.5 deprecated; not ours to change.
    pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
LOCATION = "platform_ops"
REPOSITORY = "__repository__"  # the repository a Definitions object is served as
# The audits execute in the run worker itself: a step subprocess would load the code location
# again. (reconcile_platform's run config is its own ``dry_run``/``force``, a config mapping.)
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
WORDPRESS = "applications/wordpress"
# WordPress and everything upstream of it (the selection syntax's "+" with no depth: all layers;
# https://docs.dagster.io/guides/build/assets/asset-selection-syntax/reference).
LINEAGE = f'+key:"{WORDPRESS}"'
LINEAGE_ASSETS = ("datacenter", "k8s-private", "cluster", "application-pool", "mariadb",
                  "flux-install", "flux-sources", "ingress", "secret-store", "wordpress")
NOT_UPSTREAM = ("loki", "alloy", "trivy-operator", "wordpress-content")
CERTIFICATE = "certificates/grafana-samcloud-online"
CERT_HOST = "grafana.samcloud.online"
# What the sandbox's Grafana endpoint serves at each audit: a certificate 60, 45 and 25 days from
# expiry (the aging the six-hourly audit sees over weeks), then a renewed one.
SERVED_DAYS_LEFT = (60.0, 45.0, 25.0, 90.0)


def _shot(tmp_path: Path, name: str) -> Path:
    """Where a picture goes: docs/images/ only on request, so a test run leaves the tree clean."""
    out = IMAGES / name if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / name
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{url}/graphql", method="POST",
                                 data=json.dumps({"query": query,
                                                  "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = json.loads(resp.read())
    assert not body.get("errors"), body["errors"]
    return dict(body["data"])


MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 20) {
        timestamp
        metadataEntries {
          label
          ... on FloatMetadataEntry { floatValue }
          ... on MarkdownMetadataEntry { mdStr }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}
"""


def _materializations(url: str, key: str) -> list[dict[str, Any]]:
    """The asset's materializations as the UI reads them, oldest first: label -> value."""
    data = _graphql(url, MATERIALIZATIONS, {"key": {"path": key.split("/")}})
    out = []
    for mat in sorted(data["assetOrError"]["assetMaterializations"],
                      key=lambda m: float(m["timestamp"])):
        out.append({e["label"]: e.get("floatValue", e.get("mdStr", e.get("text")))
                    for e in mat["metadataEntries"]})
    return out


def _run(url: str, job: str, run_config: dict[str, Any] | None = None) -> None:
    """Launch ``job`` through the webserver's GraphQL API and wait for it to succeed."""
    from dagster_graphql import DagsterGraphQLClient

    parsed = urlparse(url)
    client = DagsterGraphQLClient(parsed.hostname or "127.0.0.1", port_number=parsed.port)
    run_id = client.submit_job_execution(job, repository_location_name=LOCATION,
                                         repository_name=REPOSITORY, run_config=run_config)
    deadline = time.monotonic() + 240
    status = client.get_run_status(run_id).value
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_run_status(run_id).value
    assert status == "SUCCESS", f"{job} run {run_id} ended {status}"


@pytest.fixture(scope="module")
def reconciled(sandbox: Any, webserver: str) -> str:  # noqa: F811
    """The example platform reconciled from an empty cloud by a run the webserver launched."""
    sandbox.reset()
    sandbox.clear_faults()
    _run(webserver, "reconcile_platform")
    return webserver


@pytest.fixture(scope="module")
def audited(sandbox: Any, reconciled: str) -> list[float]:
    """One certificate audit per certificate in ``SERVED_DAYS_LEFT``, served in turn by the
    sandbox's endpoint for Grafana (signed by its CA, which the audit trusts)."""
    endpoints = sandbox.app.tls
    for days in SERVED_DAYS_LEFT:
        issued = endpoints.ca.issue([CERT_HOST], days)
        endpoints.set_certificate(CERT_HOST, issued.cert_pem, issued.key_pem)
        _run(reconciled, "audit_certificates", IN_PROCESS)
    return [float(m["days_left"]) for m in _materializations(reconciled, CERTIFICATE)]


def _new_page(browser: Any, width: int = 1600, height: int = 900,  # noqa: F811
              scale: float = 1.0) -> Any:
    return browser.new_page(viewport={"width": width, "height": height},
                            device_scale_factor=scale)


def _expand_all_groups(page: Any) -> None:
    """Alt+E ("Expand all groups") until the UI has recorded the expanded groups.

    The UI mounts the Alt+E handler only once the graph's layout knows its groups
    (ui-core/src/asset-graph/GraphSettings.tsx: ``hasMultipleGroups && setExpandedGroups``),
    which under load can come well after the page's network is idle; a press before that is
    dropped, and no wait afterwards brings it back. The handler writes localStorage before the
    key event returns (hooks/useStateWithStorage.tsx), so a press is repeated only while the
    storage still shows no expanded group, where the toggle can only expand, never collapse.
    The bound is generous (like the page loads' 120 s): a UI action, not a timed assert.
    """
    # Read through evaluate(): page.wait_for_function compiles its predicate inside the page,
    # which the UI's Content Security Policy (no 'unsafe-eval') refuses at times; evaluate()
    # runs through the DevTools protocol, which the policy does not govern.
    stored = ("() => Object.entries(localStorage)"
              ".filter(([k]) => k.startsWith('asset-graph-open-graph'))")
    deadline = time.monotonic() + 120
    presses = 0
    while True:
        entries = page.evaluate(stored)
        if any("platform" in v for _k, v in entries):
            return
        assert time.monotonic() < deadline, (
            f"Alt+E did not record the expanded groups after {presses} presses "
            f"(graph storage: {entries})")
        page.keyboard.press("Alt+e")
        presses += 1
        time.sleep(0.5)


def test_lineage_of_wordpress_shows_its_assets(reconciled: str, browser: Any,  # noqa: F811
                                                tmp_path: Path) -> None:
    # Drawn at 1.5 device pixels per CSS pixel: the asset names stay legible in the README.
    page = _new_page(browser, height=1000, scale=1.5)
    page.goto(f"{reconciled}/asset-groups~{quote(LINEAGE, safe='')}/",
              wait_until="networkidle", timeout=120_000)
    page.get_by_text("Hide navigation").click()
    # Alt+E expands every group of the graph (the UI's "Expand all groups"); the choice is kept
    # in the browser's storage, so the reloaded page draws the expanded graph.
    page.locator("body").click(position={"x": 900, "y": 980})
    _expand_all_groups(page)
    page.reload(wait_until="networkidle", timeout=120_000)
    for name in LINEAGE_ASSETS:
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    # The graph gets the asset list's room too; a double click on the background fits the
    # graph to the view, one step out leaves a margin for the zoom controls.
    page.locator('button:has([aria-label="panel_show_right"])').click()
    time.sleep(1.5)
    page.mouse.dblclick(90, 980)
    time.sleep(2)  # the viewport animates its zoom
    page.locator('button:has([aria-label="zoom_out"])').click()
    page.mouse.move(800, 10)
    page.wait_for_load_state("networkidle")
    time.sleep(2)
    # Each asset is drawn whole inside the picture, below the toolbar.
    for name in LINEAGE_ASSETS:
        box = page.get_by_text(name, exact=True).first.bounding_box()
        assert box is not None, name
        assert box["x"] >= 0 and box["y"] >= 100, (name, box)
        assert box["x"] + box["width"] <= 1600 and box["y"] + box["height"] <= 1000, (name, box)
    # Only WordPress's upstream: components it does not depend on are not drawn.
    body = page.locator("body").inner_text()
    for name in NOT_UPSTREAM:
        assert name not in body, f"{name} is not upstream of wordpress but is in the graph"
    for group in ("infrastructure", "platform", "applications"):
        assert group in body
    shot = _shot(tmp_path, "asset-lineage.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 30_000
    page.close()


def test_reconcile_plan_shows_in_the_materialization(reconciled: str, browser: Any,  # noqa: F811
                                                     tmp_path: Path) -> None:
    plan = _materializations(reconciled, WORDPRESS)[-1]["plan"]
    rows = [line.split("|") for line in plan.splitlines()[2:] if line.startswith("|")]
    # Everything is new except the registry's pull Secret: the registry asset wrote it (IONOS
    # shows a token's password only once), and WordPress finds it as it would apply it; and the
    # inventory, which the registry created naming that Secret before writing it (604b03b), so
    # WordPress's run updates it.
    pulled = "`v1 Secret services/samcloud-registry`"
    inventory = "`v1 ConfigMap services/platform-ops-inventory-wordpress`"
    expected = {pulled: "no-op", inventory: "update"}
    assert rows and all(r[1].strip() == expected.get(r[2].strip(), "create")
                        for r in rows), plan
    assert any(r[2].strip() == pulled for r in rows), plan
    page = _new_page(browser)
    page.goto(f"{reconciled}/assets/{WORDPRESS}?view=events", wait_until="networkidle",
              timeout=120_000)
    if len(plan) >= 1000:
        # The UI renders a markdown value inline only under 1,000 characters, else behind a
        # "[Show Markdown]" button that opens it in a dialog (dagster-webserver's bundled
        # MetadataEntry: ``mdStr.length < 1e3``); the inventory's update row made this one longer.
        page.get_by_text("[Show Markdown]", exact=True).first.click(timeout=60_000)
    page.get_by_text("apps/v1 Deployment services/wordpress").first.wait_for(timeout=60_000)
    text = page.locator("body").inner_text()
    # Every row of the plan the reconcile recorded is on the page, as a table.
    for row in rows:
        assert row[2].strip().strip("`") in text, row
    assert page.locator("table th", has_text="action").count() >= 1
    assert "Materialized in run" in text
    # The event list loads older events in the background; the picture waits until it is done.
    page.get_by_text("Loading...", exact=True).wait_for(state="hidden", timeout=60_000)
    shot = _shot(tmp_path, "reconcile-plan.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 30_000
    page.close()


def test_days_left_plot_over_certificate_audits(audited: list[float], reconciled: str,
                                                browser: Any, tmp_path: Path) -> None:  # noqa: F811
    # One materialization per audit, each with the days left of what the endpoint served then
    # (to 0.01 day; the audit runs seconds after the certificate is served).
    assert len(audited) == len(SERVED_DAYS_LEFT), audited
    assert all(abs(m - s) < 0.05 for m, s in zip(audited, SERVED_DAYS_LEFT, strict=True)), audited
    page = _new_page(browser, height=1300)
    page.goto(f"{reconciled}/assets/{CERTIFICATE}", wait_until="networkidle", timeout=120_000)
    page.get_by_text("days_left", exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Plots", exact=True).first.click()
    label = page.get_by_text("days_left", exact=True).first
    label.wait_for(timeout=30_000)
    canvases = page.locator("canvas")
    canvases.first.wait_for(timeout=30_000)
    time.sleep(2)  # the charts animate in
    # The days_left plot is the canvas under its title, and it has a line drawn on it.
    title = label.bounding_box()
    plot = next(c for c in (canvases.nth(i) for i in range(canvases.count()))
                if abs(c.bounding_box()["x"] - title["x"]) < 40
                and 0 < c.bounding_box()["y"] - title["y"] < 120)
    drawn = plot.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 0; i < d.length; i += 4) {"
        " if (d[i + 3] > 0 && d[i + 2] > d[i] + 60) n++; } return n; }")
    assert drawn > 200, f"the days_left plot has no line ({drawn} blue pixels)"
    head = page.get_by_text("Metadata", exact=True).first.bounding_box()
    last = canvases.nth(canvases.count() - 1).bounding_box()
    shot = _shot(tmp_path, "certificate-days-left.png")
    page.screenshot(path=str(shot), clip={
        "x": head["x"] - 40, "y": head["y"] - 12, "width": 940,
        "height": min(last["y"] + last["height"] + 60, 1300) - head["y"] + 12})
    assert shot.stat().st_size > 20_000
    page.close()

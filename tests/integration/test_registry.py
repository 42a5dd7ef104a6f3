"""The IONOS Container Registry, end to end: the sandbox's emulator against the API's contract
with the real ``ionoscloud_container_registry`` 2.0.0 SDK, and ``ionos.registries`` reconciled
through it (the registry, its tokens and the image pull Secret that carries a token into
WordPress's namespace). Each emulator test names its source."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.http import serve
from sandbox.registry import RegistryService
from sandbox.world import World
from tests.integration import test_postgres_reconcile
from tests.integration.test_reconcile import (
    ROOT,
    failures,
    instance_at,
    make_defs,
    materialized,
    run,
)
from tests.integration.test_reconcile import writes as write_counts
from tests.integration.test_sandbox_inmemorydb import raw as sandbox_raw

fresh = test_postgres_reconcile.fresh  # the fixture: an empty sandbox cloud, counts reset
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]

TOKEN = "registry-test-token"
PULL = {"name": "wordpress/*", "actions": ["pull"], "type": "repository"}


def raw(method: str, url: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    return sandbox_raw(method, url, body, token=token)


@pytest.fixture
def cr() -> Iterator[tuple[RegistryService, str]]:
    service = RegistryService(World(), TOKEN, delay=3600)
    running = serve(service)
    try:
        yield service, f"{running.url}/containerregistries"
    finally:
        running.stop()


def client(url: str, token: str = TOKEN) -> Any:
    import ionoscloud_container_registry as sdk

    return sdk.ApiClient(sdk.Configuration(host=url, token=token))


def _post(url: str, name: str = "samcloud", **props: Any) -> Any:
    import ionoscloud_container_registry as sdk

    body = sdk.PostRegistryInput.from_dict({"properties": {"name": name, "location": "de/fra",
                                                           **props}})
    return sdk.RegistriesApi(client(url)).registries_post(body)


def test_no_or_a_wrong_token_is_401_with_the_error_body(cr) -> None:
    """Source: the API's OpenAPI security (basicAuth, tokenAuth); the IONOS error body."""
    _, url = cr
    for token in (None, "wrong"):
        status, body = raw("GET", f"{url}/registries", token=token)
        assert status == 401
        assert body["httpStatus"] == 401 and body["messages"][0]["message"]


def test_a_registry_is_new_without_hostname_then_running(cr) -> None:
    """Source: the create how-to on docs.ionos.com (201, state New, "hostname": "" until the
    host is allocated; "Running" once it is); the SDK's RegistryResponse."""
    service, url = cr
    import ionoscloud_container_registry as sdk

    made = _post(url, garbageCollectionSchedule={"days": ["Sunday"], "time": "03:00:00+00:00"})
    assert made.metadata.state == "New" and made.properties.hostname == ""
    assert made.properties.features.vulnerability_scanning.enabled is True  # the default
    service._registries[made.id]["ready_at"] = 0
    got = sdk.RegistriesApi(client(url)).registries_find_by_id(made.id)
    assert got.metadata.state == "Running"
    assert got.properties.hostname == "samcloud.cr.de-fra.ionos.com"
    assert got.properties.garbage_collection_schedule.days == [sdk.Day.SUNDAY]
    listed = sdk.RegistriesApi(client(url)).registries_get(filter_name="samcloud")
    assert [r.id for r in listed.items] == [made.id]


@pytest.mark.parametrize(("props", "field"), [
    ({"name": "Samcloud"}, "properties.name"),  # 1.x SDK: ^[a-z][-a-z0-9]{1,61}[a-z0-9]$
    ({"name": "ab"}, "properties.name"),  # how-to: 3 to 63 characters
    ({"name": "sam-"}, "properties.name"),
    ({"location": "de/xyz"}, "properties.location"),  # one of GET /locations
    ({"garbageCollectionSchedule": {"days": ["Sun"], "time": "03:00:00"}},
     "properties.garbageCollectionSchedule.days"),  # the SDK's Day enum
    ({"garbageCollectionSchedule": {"days": ["Sunday"]}},
     "properties.garbageCollectionSchedule.time"),  # WeeklySchedule.time is required (1.x)
])
def test_invalid_registries_are_400_naming_the_field(cr, props: dict[str, Any],
                                                     field: str) -> None:
    """Source: the 1.x SDK's validators, the API how-to's naming rules and ``Day``."""
    _, url = cr
    status, body = raw("POST", f"{url}/registries", {"properties": {
        "name": "samcloud", "location": "de/fra", **props}})
    assert status == 400, body
    assert body["messages"][0]["message"].startswith(f"[{field}]")


def test_names_are_unique_and_scanning_cannot_be_turned_off(cr) -> None:
    """Source: the how-to ("All registry names must be unique"); the Terraform provider docs
    (vulnerability scanning "cannot be turned off after activation")."""
    _, url = cr
    made = _post(url)
    status, body = raw("POST", f"{url}/registries", {"properties": {"name": "samcloud",
                                                                    "location": "de/txl"}})
    assert status == 409 and "already in use" in body["messages"][0]["message"]
    status, body = raw("PATCH", f"{url}/registries/{made.id}",
                       {"features": {"vulnerabilityScanning": {"enabled": False}}})
    assert status == 400 and "cannot be turned off" in body["messages"][0]["message"]


def test_a_token_password_is_shown_once_and_logs_in(cr) -> None:
    """Source: the API reference ("password is only available once in the POST response"; GET
    answers ``"password": ""``); the SDK's PostTokenOutput and TokenResponse."""
    service, url = cr
    import ionoscloud_container_registry as sdk

    reg = _post(url)
    service._registries[reg.id]["ready_at"] = 0
    tokens = sdk.TokensApi(client(url))
    made = tokens.registries_tokens_post(reg.id, sdk.PostTokenInput.from_dict(
        {"properties": {"name": "wordpress-pull", "scopes": [PULL]}}))
    password = made.properties.credentials.password
    assert password and made.properties.credentials.username == "wordpress-pull"
    assert made.properties.status == "enabled"
    got = tokens.registries_tokens_find_by_id(reg.id, made.id)
    assert got.properties.credentials.password == ""
    assert [t.properties.credentials.password for t in
            tokens.registries_tokens_get(reg.id).items] == [""]
    host = "samcloud.cr.de-fra.ionos.com"
    assert service.registry_login(host, "wordpress-pull", password)
    assert not service.registry_login(host, "wordpress-pull", "guess")
    tokens.registries_tokens_patch(reg.id, made.id, sdk.PatchTokenInput.from_dict(
        {"status": "disabled"}))
    assert not service.registry_login(host, "wordpress-pull", password)


@pytest.mark.parametrize(("props", "field"), [
    ({"name": "9pull"}, "properties.name"),  # 1.x SDK: ^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$
    ({"scopes": [{**PULL, "actions": ["pull", "write"]}]}, "properties.scopes[0].actions"),
    ({"scopes": [{**PULL, "type": "registry"}]}, "properties.scopes[0].type"),
    ({"status": "paused"}, "properties.status"),  # 1.x SDK: enabled or disabled
    ({"expiryDate": "next year"}, "properties.expiryDate"),  # a date-time
])
def test_invalid_tokens_are_400_naming_the_field(cr, props: dict[str, Any], field: str) -> None:
    """Source: the 1.x SDK's token validators; the API reference's scope example (type
    repository, actions pull, push, delete)."""
    _, url = cr
    reg = _post(url)
    status, body = raw("POST", f"{url}/registries/{reg.id}/tokens", {"properties": {
        "name": "wordpress-pull", "scopes": [PULL], **props}})
    assert status == 400, body
    assert body["messages"][0]["message"].startswith(f"[{field}]")


def test_a_deleted_registry_is_deleting_then_gone(cr) -> None:
    """Source: the SDK (DELETE answers no body); the Terraform provider, which polls GET until
    404 after a delete."""
    service, url = cr
    reg = _post(url)
    assert raw("DELETE", f"{url}/registries/{reg.id}")[0] == 204
    status, body = raw("GET", f"{url}/registries/{reg.id}")
    assert status == 200 and body["metadata"]["state"] == "Deleting"
    service._registries[reg.id]["delete_at"] = 0
    assert raw("GET", f"{url}/registries/{reg.id}")[0] == 404


def test_the_admin_api_counts_and_faults_the_registry_under_its_own_name(
        sandbox: Any, sandbox_env: dict[str, str]) -> None:
    """``GET /requests`` counts ``registry`` apart from ``ionos``; a fault for ``registry`` hits
    only it, with the IONOS error body and an integer Retry-After (issue 17 item 7)."""
    import ionoscloud_container_registry as sdk

    url, token = sandbox_env["IONOS_REGISTRY_URL"], sandbox_env["IONOS_TOKEN"]
    sandbox.reset_counts()
    sdk.RegistriesApi(client(url, token)).registries_get()
    counts = sandbox.requests()
    assert counts["registry"]["GET"] == 1 and counts["ionos"]["GET"] == 0
    sandbox.set_fault("registry", error_rate=1.0, statuses=[503], retry_after=1)
    with pytest.raises(sdk.ApiException) as exc:
        sdk.RegistriesApi(client(url, token)).registries_get()
    assert exc.value.status == 503 and exc.value.headers["Retry-After"] == "1"
    assert json.loads(exc.value.body)["httpStatus"] == 503
    status, _ = raw("GET", f"{sandbox_env['IONOS_INMEMORYDB_URL']}/clusters", token=token)
    assert status == 200  # the other services are untouched


def registry_spec(tmp_path: Path) -> Path:
    """The example's infrastructure with its registry and one small component that pulls with
    the registry's token (the rest of the example is not what these tests are about)."""
    data = yaml.safe_load((ROOT / "platform" / "platform.yaml").read_text())
    for key in ("mariadb", "postgres", "inmemorydb", "ip_blocks", "load_balancers", "dns"):
        data["ionos"].pop(key, None)
    for key in ("applications", "backups", "remediation"):
        data.pop(key, None)
    data["certificates"] = {"items": []}
    data["change_calendar"] = {"maintenance_windows": [], "freezes": []}
    manifests = tmp_path / "manifests" / "web"
    manifests.mkdir(parents=True)
    (manifests / "config.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "web"},
        "data": {"greeting": "hello"}}))
    data["platform"] = [{
        "name": "web", "namespace": "web", "source": {"manifests": {"path": "manifests/web"}},
        "inputs": {"infrastructure": [
            {"asset": "registry/samcloud", "config_map": "web-registry",
             "keys": {"hostname": "REGISTRY_HOST"}},
            {"asset": "registry/samcloud", "token": "wordpress-pull", "secret": "web-pull",
             "keys": {"dockerconfigjson": ".dockerconfigjson"}}]}}]
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _k8s(env: dict[str, str]) -> Any:
    from resources.kubernetes import KubernetesResource

    return KubernetesResource(kubeconfig_path=env["KUBECONFIG"])


def _pull_login(sandbox: Any, secret: dict[str, Any]) -> tuple[str, bool]:
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    (host, auth), = config["auths"].items()
    user, _, password = base64.b64decode(auth["auth"]).decode().partition(":")
    return host, sandbox.app.services["registry"].registry_login(host, user, password)


def test_registry_from_nothing_then_no_writes_then_drift_corrected(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """Create, no-op, update, drift (observe and enforce), a lost pull Secret, orphans; the
    token's password never reaches metadata or the run's logs."""
    import ionoscloud_container_registry as sdk

    defs = make_defs(registry_spec(tmp_path), fresh)
    k8s = _k8s(fresh)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, failures(first)
        meta = materialized(first)
        reg_meta = meta["ionos/registry/samcloud"]
        assert reg_meta["summary"] == "1 to create" and reg_meta["state"] == "Running"
        assert reg_meta["hostname"] == "samcloud.cr.de-fra.ionos.com"
        assert (reg_meta["tokens"], reg_meta["pull_secrets"]) == (1, 1)
        assert write_counts(sandbox.requests())["registry"] == 2  # the registry, the token
        secret = k8s.get("v1", "Secret", "web-pull", "web")
        assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"
        assert _pull_login(sandbox, secret) == ("samcloud.cr.de-fra.ionos.com", True)
        assert k8s.get("v1", "ConfigMap", "web-registry", "web")["data"] == {
            "REGISTRY_HOST": "samcloud.cr.de-fra.ionos.com"}
        password = base64.b64decode(json.loads(base64.b64decode(
            secret["data"][".dockerconfigjson"]))["auths"]["samcloud.cr.de-fra.ionos.com"][
            "auth"]).decode().split(":", 1)[1]
        logged = [ev.message for ev in instance.all_logs(first.run_id)]
        assert not any(password in m for m in logged)
        assert not any(password in json.dumps(m, default=str) for m in meta.values())

        sandbox.reset_counts()
        second = run(defs, instance)
        assert second.success, failures(second)
        assert write_counts(sandbox.requests()) == {}

        api = sdk.ApiClient(sdk.Configuration(host=fresh["IONOS_REGISTRY_URL"],
                                              token=fresh["IONOS_TOKEN"]))
        reg = sdk.RegistriesApi(api).registries_get(filter_name="samcloud").items[0]
        tok = sdk.TokensApi(api).registries_tokens_get(reg.id).items[0]
        sdk.TokensApi(api).registries_tokens_patch(reg.id, tok.id, sdk.PatchTokenInput.from_dict(
            {"scopes": [{"name": "*", "actions": ["pull", "push"], "type": "repository"}]}))
        sdk.TokensApi(api).registries_tokens_post(reg.id, sdk.PostTokenInput.from_dict(
            {"properties": {"name": "by-hand", "scopes": [PULL]}}))
        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        failed = {"/".join(c.asset_key.path): c for c in drift.get_asset_check_evaluations()
                  if not c.passed}
        assert set(failed) == {"ionos/registry/samcloud"}
        plan = failed["ionos/registry/samcloud"].metadata["plan"].value
        assert "tokens.wordpress-pull.scopes" in plan
        assert "token by-hand" in str(failed["ionos/registry/samcloud"].metadata)
        assert write_counts(sandbox.requests()) == {}
        fixed = run(defs, instance)
        assert fixed.success, failures(fixed)
        assert write_counts(sandbox.requests()) == {"registry": 1}  # the token's PATCH
        scopes = sdk.TokensApi(api).registries_tokens_find_by_id(reg.id, tok.id).properties.scopes
        assert [s.to_dict() for s in scopes] == [PULL]

        # The pull Secret lost: the password exists nowhere else, so the token is replaced and
        # the new credentials written; the Secret works again.
        k8s.delete("v1", "Secret", "web-pull", "web")
        sandbox.reset_counts()
        healed = run(defs, instance)
        assert healed.success, failures(healed)
        assert write_counts(sandbox.requests())["registry"] == 2  # DELETE and POST the token
        assert _pull_login(sandbox, k8s.get("v1", "Secret", "web-pull", "web"))[1]
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert write_counts(sandbox.requests()) == {}


def test_registry_spec_changes_update_in_place(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """A new garbage collection schedule and a token's expiry change by PATCH, not by a new
    registry or token (the pull Secret keeps working)."""
    path = registry_spec(tmp_path)
    defs = make_defs(path, fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        data = yaml.safe_load(path.read_text())
        reg = data["ionos"]["registries"][0]
        reg["garbage_collection"] = {"days": ["Saturday", "Sunday"], "time": "04:30"}
        reg["tokens"][0]["expiry"] = "2030-01-31"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        sandbox.reset_counts()
        changed = run(make_defs(path, fresh), instance)
        assert changed.success, failures(changed)
        assert write_counts(sandbox.requests()) == {"registry": 2}  # two PATCHes
        found = _k8s(fresh).get("v1", "Secret", "web-pull", "web")
        assert _pull_login(sandbox, found)[1]
        from resources.ionos import IonosCloudResource

        ionos = IonosCloudResource(token=fresh["IONOS_TOKEN"])
        got = ionos.find_registry("samcloud")
        assert got["properties"]["garbageCollectionSchedule"] == {
            "days": ["Saturday", "Sunday"], "time": "04:30:00+00:00"}
        tokens = ionos.list_registry_tokens(got["id"])
        assert tokens[0]["properties"]["expiryDate"].startswith("2030-01-31T00:00:00")


def test_a_pull_secret_a_killed_run_wrote_is_pruned_by_the_run_account_once_unwired(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """As the run account with the RBAC derived from the spec that wires the registry (the
    deployed RBAC, which a spec commit reconciled by ``git_changes`` does not change): the
    registry's reconcile creates the token and writes its credentials into the pull Secret, and
    the run dies before the component's (which would have inventoried it). The spec then drops
    the registry and its wirings: the component's next run finds the Secret through its
    inventory, written ahead of the Secret by the registry's reconcile, and deletes it (its
    credentials work until then); a third run writes nothing."""
    from platform_assets.core.graph import component_key, registry_key
    from platform_assets.core.rbac import render_rbac
    from platform_assets.engine.reconcile import Engine, Options
    from platform_assets.spec.loader import load_graph
    from resources.ionos import IonosCloudResource
    from resources.kubernetes import KubernetesResource
    from resources.object_storage import ObjectStorageResource
    from tests.integration.run_account import install, runner_resource

    path = registry_spec(tmp_path)
    admin = KubernetesResource(kubeconfig_path=fresh["KUBECONFIG"], retry_attempts=2,
                               retry_max_wait_seconds=0.2)
    install(admin, render_rbac(path))
    runner = runner_resource(fresh["KUBECONFIG"], tmp_path / "runner")

    def engine() -> tuple[Engine, Any]:
        graph = load_graph(path)
        assert graph.base_dir is not None
        return Engine(graph.spec, graph.base_dir, ionos=IonosCloudResource(
            token=fresh["IONOS_TOKEN"], api_url=fresh["IONOS_API_URL"],
            poll_interval_seconds=0.05, retry_attempts=8, retry_max_wait_seconds=0.2),
            kubernetes=runner, object_storage=ObjectStorageResource(
                access_key_id=fresh["AWS_ACCESS_KEY_ID"],
                secret_access_key=fresh["AWS_SECRET_ACCESS_KEY"],
                endpoint_url=fresh["AWS_ENDPOINT_URL_S3"], retry_attempts=2,
                retry_max_wait_seconds=0.2)), graph

    eng, graph = engine()
    sandbox.reset_counts()
    assert eng.reconcile(graph.nodes[registry_key("samcloud")]).healthy
    # The registry and its token; the inventory ahead and the Secret (the RBAC's install made
    # the namespace).
    assert write_counts(sandbox.requests()) == {"registry": 2, "kubernetes": 2}
    secret = admin.get("v1", "Secret", "web-pull", "web")
    assert secret is not None and _pull_login(sandbox, secret)[1]
    inventory = admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web")
    assert inventory is not None
    assert json.loads(inventory["data"]["objects"]) == ["v1/Secret/web/web-pull"]

    data = yaml.safe_load(path.read_text())
    data["ionos"].pop("registries")
    data["platform"][0].pop("inputs")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    eng, graph = engine()
    web = graph.nodes[component_key("platform", "web")]
    sandbox.reset_counts()
    outcome = eng.reconcile(web, Options(force=True))
    # The ConfigMap created, the Secret deleted, the inventory updated.
    assert outcome.writes == 3 and write_counts(sandbox.requests()) == {"kubernetes": 3}
    assert ("delete", "v1 Secret web/web-pull") in [
        (c.action, c.address) for c in outcome.plan.changes if c.writes]
    assert admin.get("v1", "Secret", "web-pull", "web") is None
    inventory = admin.get("v1", "ConfigMap", "platform-ops-inventory-web", "web")
    assert inventory is not None
    assert json.loads(inventory["data"]["objects"]) == ["v1/ConfigMap/web/web"]
    sandbox.reset_counts()
    eng, graph = engine()
    assert eng.reconcile(graph.nodes[component_key("platform", "web")]).writes == 0
    assert write_counts(sandbox.requests()) == {}

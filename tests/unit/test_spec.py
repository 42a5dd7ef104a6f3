"""The platform spec: the example loads; each class of bad input fails with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.spec import SpecError, load_spec, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC, find_cycle
from platform_assets.spec.models import parse_duration, parse_size

EXAMPLE = DEFAULT_SPEC.read_text()


def test_example_spec_matches_the_platform_documents() -> None:
    spec = load_spec(DEFAULT_SPEC)
    ionos = spec.ionos
    assert (ionos.datacenter.name, ionos.datacenter.location) == ("k8s-production", "de/fra")
    assert (ionos.cluster.name, ionos.cluster.k8s_version) == ("ionos-k8s", "1.32.6")
    assert ionos.cluster.maintenance_window.day == "Sunday"
    assert ionos.cluster.maintenance_window.ionos_time() == "10:00:00Z"
    assert ionos.cluster.api_subnet_allow_list == ["154.161.97.168/32"]
    (pool,) = ionos.node_pools
    assert (pool.node_count, pool.cores, pool.ram_mb, pool.storage_gb) == (3, 4, 20480, 100)
    assert (pool.storage_type, pool.cpu_family) == ("SSD", "INTEL_SKYLAKE")
    assert ionos.mariadb is not None and ionos.mariadb.maintenance_window.time == "09:00"
    namespaces = {c.namespace for c in spec.components}
    assert {"flux-system", "cert-manager", "observability", "security", "services",
            "kube-system"} <= namespaces
    assert spec.backups is not None
    assert (spec.backups.schedule.cron, spec.backups.schedule.timezone) == ("0 2 * * *", "UTC")
    assert spec.backups.retention_days == 30
    assert parse_duration(spec.backups.rpo).total_seconds() == 24 * 3600
    assert parse_duration(spec.backups.rto).total_seconds() == 4 * 3600
    regions = {b.region for b in ionos.buckets}
    assert len(regions) == 2, "backup bucket and its cross-region copy"


def test_example_manifests_carry_the_documented_workload_settings() -> None:
    from platform_assets.core.manifests import load_directory

    base = DEFAULT_SPEC.parent
    spec = load_spec(DEFAULT_SPEC)
    objs = []
    for c in spec.components:
        if c.source.manifests:
            objs += [m.obj for m in load_directory(base / c.source.manifests.path, c.namespace)]
    deployments = [o for o in objs if o["kind"] == "Deployment"
                   and o["metadata"]["name"] == "wordpress"]
    pvcs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolumeClaim"}
    (app,) = deployments
    # One replica on a ReadWriteOnce volume (the manifest says why), restricted-ready.
    assert app["spec"]["replicas"] == 1 and app["spec"]["strategy"] == {"type": "Recreate"}
    pod_sc = app["spec"]["template"]["spec"]["securityContext"]
    assert pod_sc["runAsUser"] == 1001 and pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    claim = app["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert pvcs[claim]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    kinds = {o["kind"] for o in objs}
    assert {"ClusterIssuer", "Certificate", "ClusterSecretStore"} <= kinds
    issuer = next(o for o in objs if o["kind"] == "ClusterIssuer")
    assert "acme-v02.api.letsencrypt.org" in issuer["spec"]["acme"]["server"]
    assert "dns01" in issuer["spec"]["acme"]["solvers"][0]
    # The observability PVC sizes from the documents live in the Helm values.
    values = str([c.source.helm_release.values for c in spec.components if c.source.helm_release])
    for size in ("20Gi", "50Gi", "10Gi"):
        assert size in values


def _bad(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "bad.yaml")
    return info.value


def _replace(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_yaml_syntax_error_names_file_and_line() -> None:
    text = _replace("  datacenter:\n", "  datacenter: [\n")
    err = _bad(text)
    assert str(err).startswith("invalid platform spec")
    (p,) = err.problems
    assert p.file == "bad.yaml" and p.line is not None and "YAML syntax error" in p.message


def test_unknown_key_names_line_and_path() -> None:
    text = _replace("    public: true\n", "    publik: true\n")
    err = _bad(text)
    (p,) = err.problems
    assert p.path == "ionos.cluster.publik"
    assert p.line == _line_of(text, "publik")
    assert "unknown key" in p.message
    assert f"bad.yaml:{p.line}: ionos.cluster.publik: unknown key" in str(err)


def test_wrong_type() -> None:
    text = _replace("      node_count: 3\n", "      node_count: three\n")
    (p,) = _bad(text).problems
    assert p.path == "ionos.node_pools[0].node_count"
    assert p.line == _line_of(text, "node_count: three")
    assert "wrong type" in p.message


def test_invalid_cidr() -> None:
    text = _replace("[154.161.97.168/32]", "[154.161.97.300/32]")
    (p,) = _bad(text).problems
    assert p.path == "ionos.cluster.api_subnet_allow_list[0]"
    assert "not a valid CIDR" in p.message


def test_invalid_cron_and_timezone() -> None:
    text = _replace('cron: "0 2 * * *", timezone: UTC}', 'cron: "0 25 * * *", timezone: Mars/Base}')
    problems = {p.path: p for p in _bad(text).problems}
    assert "cron expression" in problems["backups.schedule.cron"].message
    assert "timezone" in problems["backups.schedule.timezone"].message
    assert problems["backups.schedule.cron"].line == _line_of(text, "Mars/Base")


def test_unknown_depends_on_target() -> None:
    text = _replace("depends_on: [loki]", "depends_on: [lokki]")
    (p,) = _bad(text).problems
    assert p.path.endswith("depends_on[0]") and "unknown component 'lokki'" in p.message
    assert p.line == _line_of(text, "[lokki]")


def test_dependency_cycle() -> None:
    text = _replace("    depends_on: [flux-sources, kube-prometheus-stack]\n    source:\n"
                    "      helm_release:\n        chart: cert-manager",
                    "    depends_on: [flux-sources, cert-manager-issuers]\n    source:\n      "
                    "helm_release:\n        chart: cert-manager")
    (p,) = _bad(text).problems
    assert "dependency cycle" in p.message
    assert "cert-manager -> cert-manager-issuers -> cert-manager" in p.message


def test_duplicate_names() -> None:
    text = _replace("  - name: loki\n", "  - name: alloy\n").replace("depends_on: [loki]",
                                                                    "depends_on: [flux-sources]")
    problems = _bad(text).problems
    assert any("duplicate component name 'alloy'" in p.message for p in problems)


def test_invalid_size() -> None:
    text = _replace("      storage_size: 100GB\n", "      storage_size: 20Gx\n")
    (p,) = _bad(text).problems
    assert p.path == "ionos.node_pools[0].storage_size"
    assert "'20Gx' is not a valid size" in p.message


def test_missing_required_field_and_bad_enum() -> None:
    text = _replace("    location: de/fra\n", "").replace("day: Sunday, time: \"10:00\"",
                                                         "day: Sonntag, time: \"10:00\"")
    problems = {p.path: p.message for p in _bad(text).problems}
    assert problems["ionos.datacenter.location"] == "required field is missing"
    assert "Sonntag" in problems["ionos.cluster.maintenance_window.day"]


def test_missing_manifest_directory(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(EXAMPLE)
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "platform.yaml")
    assert "manifest directory 'manifests/flux-sources' does not exist" in str(info.value)


def test_unreadable_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="the file is empty"):
        load_spec_text("", "empty.yaml")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    from platform_assets.core.manifests import ManifestError, load_directory

    (tmp_path / "platform.yaml").write_bytes(b"apiVersion: \xff\xfe\n")
    with pytest.raises(SpecError, match="cannot read the spec: not UTF-8 text"):
        load_spec(tmp_path / "platform.yaml")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "cm.yaml").write_bytes(b"kind: \xff\n")
    with pytest.raises(ManifestError, match=r"cm\.yaml: cannot read the manifest"):
        load_directory(tmp_path / "m")


def test_remediation_rule_with_unknown_action_or_target() -> None:
    text = _replace("action: restart_rollout\n      target: wordpress",
                    "action: reboot_everything\n      target: wordpres")
    problems = {p.path: p.message for p in _bad(text).problems}
    assert "reboot_everything" in problems["remediation.rules[0].action"]
    text = _replace("target: wordpress", "target: wordpres")
    (p,) = _bad(text).problems
    assert p.path == "remediation.rules[0].target" and "unknown asset 'wordpres'" in p.message


def test_sizes_and_durations() -> None:
    assert parse_size("20Gi") == 20 * 1024**3
    assert parse_size("100GB") == 100 * 1000**3
    assert parse_duration("1d12h").total_seconds() == 36 * 3600
    with pytest.raises(ValueError):
        parse_duration("soon")
    for hostile in (-1, 10**15, "99999999999999d"):  # timedelta would overflow on the last two
        with pytest.raises(ValueError, match="ten years"):
            parse_duration(hostile)


@pytest.mark.parametrize(("field", "value"), [("rto", -1), ("rto", 10**12),
                                               ("rto", "99999999999999d"), ("rpo", "500m")])
def test_a_bad_backups_duration_is_a_spec_error_at_its_line(field: str, value: object) -> None:
    # The section's own rpo and rto also make the default tier: bad ones were re-validated there
    # and escaped as a pydantic traceback instead of a spec error.
    old = {"rto": "  rto: 4h\n", "rpo": "  rpo: 24h\n"}[field]
    text = _replace(old, f"  {field}: {value}\n")
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "platform.yaml")
    (problem,) = info.value.problems
    assert problem.path == f"backups.{field}"
    assert problem.line == _line_of(text, f"  {field}: {value}")


def test_a_timezone_too_long_for_a_file_name_is_a_spec_error() -> None:
    text = _replace("timezone: UTC", f"timezone: {'x' * 300}")
    with pytest.raises(SpecError, match="is not a known IANA timezone"):
        load_spec_text(text, "platform.yaml")


def test_a_duration_in_seconds_keeps_its_unit() -> None:
    # Handed to tools as a Go duration (Velero's ttl), a bare "3600" would be refused.
    spec = load_spec_text(_replace("  rto: 4h\n", "  rto: 3600\n"), "platform.yaml")
    assert spec.backups is not None and spec.backups.rto == "3600s"
    untiered = spec.backups.targets[0].model_copy(update={"tier": None})
    assert spec.backups.tier_of(untiered).rto == "3600s"


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def test_a_bad_ignore_path_names_file_line_and_what_is_wrong() -> None:
    text = _replace("    health_timeout: 10m\n", "    health_timeout: 10m\n"
                    "    ignore_differences:\n"
                    "      - {kind: Deployment, json_pointers: [spec/replicas]}\n")
    (p,) = _bad(text).problems
    assert p.path.startswith("applications[0].ignore_differences[0].json_pointers")
    assert p.line == _line_of(text, "spec/replicas")
    assert "starts with '/'" in p.message


def test_mariadb_outputs_need_a_mariadb_and_wire_the_component_after_it() -> None:
    from platform_assets.core import desired
    from platform_assets.core.graph import KEY_MARIADB, build_graph, component_key

    spec = load_spec(DEFAULT_SPEC)
    wordpress = spec.component("wordpress")
    assert spec.mariadb is not None
    graph = build_graph(spec)
    assert KEY_MARIADB in graph.nodes[component_key("applications", "wordpress")].deps
    cluster = {"id": "c1", "metadata": {"dnsName": "ma-c1.mariadb.de-fra.ionos.com"}}
    cm = desired.mariadb_outputs(wordpress, spec.mariadb, cluster)
    assert cm == {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "wordpress-config", "namespace": "services"},
                  "data": {"WORDPRESS_DATABASE_HOST": "ma-c1.mariadb.de-fra.ionos.com",
                           "WORDPRESS_DATABASE_NAME": "wordpress",
                           "WORDPRESS_DATABASE_PORT_NUMBER": "3306",
                           "WORDPRESS_DATABASE_USER": "wordpress"}}
    before = desired.mariadb_outputs(wordpress, spec.mariadb, None)
    assert before is not None and before["data"]["WORDPRESS_DATABASE_HOST"] == desired.NOT_YET
    # No hard-coded host in the example's manifests any more.
    manifests = DEFAULT_SPEC.parent / "manifests" / "wordpress"
    assert not any("mariadb.de-fra.ionos.com" in p.read_text() for p in manifests.iterdir())

    text = EXAMPLE[:EXAMPLE.index("  mariadb:\n    name: wordpress-db")] + \
        EXAMPLE[EXAMPLE.index("  buckets:\n"):]
    problems = {p.path: p.message for p in _bad(text).problems}
    assert problems["applications[0].inputs.mariadb"] == (
        "the MariaDB outputs need ionos.mariadb in the spec")


def test_remediation_rule_with_unknown_component() -> None:
    text = _replace("      component: wordpress\n", "      component: wordpres\n")
    (p,) = _bad(text).problems
    assert p.path.endswith(".component") and "unknown component 'wordpres'" in p.message
    assert p.line == _line_of(text, "component: wordpres")


def test_fields_that_make_no_sense_for_an_absent_component_are_errors_at_their_line() -> None:
    """``absent: true`` only deletes: ``prune: false``, ``drift: observe``, health checks,
    ``ignore_differences`` and ``allow_replace`` are refused at their line, and so is a
    component that still depends on the absent one."""
    other = (Path(__file__).resolve().parents[1] / "fixtures" / "other" / "platform.yaml")
    text = other.read_text().replace(
        "    source: {manifests: {path: manifests/shop}}\n",
        "    source: {manifests: {path: manifests/shop}}\n    absent: true\n    prune: false\n"
        "    drift: observe\n    allow_replace: true\n"
        "    health: [{kind: Deployment, name: shop}]\n")
    problems = {p.path: p for p in _bad(text).problems}
    assert sorted(problems) == [
        "applications[0].allow_replace", "applications[0].drift", "applications[0].health",
        "applications[0].prune", "applications[1].depends_on[0]"]
    assert problems["applications[0].prune"].line == _line_of(text, "prune: false")
    assert problems["applications[0].health"].line == _line_of(text, "health: [")
    assert "prune: false makes no sense with absent: true" in \
        problems["applications[0].prune"].message
    dep = problems["applications[1].depends_on[0]"]
    assert dep.line == _line_of(text, "depends_on: [shop]")
    assert dep.message == ("component 'shop' is absent (absent: true): drop it from "
                           "depends_on, or component 'shop-worker' loses what it needs")
    assert "bad.yaml:" in str(_bad(text))


def test_what_acts_on_an_absent_component_is_an_error_at_its_line() -> None:
    """A remediation rule or a backup target naming an absent component would act on objects
    its reconcile deletes: each reference is refused at its line."""
    text = _replace("  - name: wordpress\n    namespace: services\n",
                    "  - name: wordpress\n    namespace: services\n    absent: true\n")
    problems = {p.path: p for p in _bad(text).problems}
    refs = [p for p in problems.values() if p.path.startswith(("remediation", "backups"))]
    assert sorted(p.path.split(".", 1)[0] + "." + p.path.rsplit(".", 1)[1] for p in refs) == [
        "backups.protects", "backups.protects", "remediation.component"]
    assert all(p.message.startswith("component 'wordpress' is absent (absent: true)")
               for p in refs)
    rule = next(p for p in refs if p.path.startswith("remediation"))
    assert rule.line is not None
    assert text.splitlines()[rule.line - 1].strip() == "component: wordpress"


def _included(kinds: str, old: str = "      include_secrets: false\n") -> str:
    return _replace(old, old + f"      include_kinds: {kinds}\n")


def test_include_kinds_are_checked_with_file_line_and_field() -> None:
    """A resources target's include_kinds: apiVersion/Kind each, namespaced, once; never
    Secrets (include_secrets says that), RBAC or Events; on no other target."""
    spec = load_spec_text(_included("[v1/ReplicationController, example.com/v1beta1/Widget]"),
                          "platform.yaml")
    (target,) = [t for t in spec.backups.targets if t.include_kinds] if spec.backups else []
    assert target.include_kinds == ["v1/ReplicationController", "example.com/v1beta1/Widget"]
    text = _included("[v1/Secret, Endpoints, rbac.authorization.k8s.io/v1/RoleBinding, "
                     "v1/Event, apps/V1/Deployment]")
    line = _line_of(text, "include_kinds:")
    found = {(p.path, p.line): p.message for p in _bad(text).problems}
    path = "backups.targets[7].include_kinds"
    assert set(found) == {(f"{path}[{i}]", line) for i in (0, 1, 2, 3, 4)}
    assert "set include_secrets: true" in found[(f"{path}[0]", line)]
    assert "'Endpoints' is not apiVersion/Kind: expected e.g. v1/Endpoints" in \
        found[(f"{path}[1]", line)]
    assert "RBAC kinds are not for include_kinds" in found[(f"{path}[2]", line)]
    assert "Events are never exported" in found[(f"{path}[3]", line)]
    assert "is not apiVersion/Kind" in found[(f"{path}[4]", line)]
    text = _included("[v1/Endpoints, v1/Namespace, v1/Endpoints]")
    found = {p.path: p.message for p in _bad(text).problems}
    assert found == {
        f"{path}[1]": "v1/Namespace is cluster-scoped: a resources backup exports the objects "
                      "of namespaces",
        f"{path}[2]": "v1/Endpoints is listed twice"}
    text = _included("[v1/Endpoints]", "      databases: [wordpress]\n")
    (p,) = _bad(text).problems
    assert (p.path, p.line) == ("backups.targets[6].include_kinds",
                                _line_of(text, "include_kinds:"))
    assert p.message == ("include_kinds is for resources targets: a database target exports "
                         "no namespace")


def test_a_velero_target_takes_no_include_kinds() -> None:
    velero = DEFAULT_SPEC.parent.parent / "examples" / "velero" / "platform.yaml"
    old = "      method: velero\n"
    text = velero.read_text()
    assert text.count(old) == 1
    text = text.replace(old, old + "      include_kinds: [v1/Endpoints]\n")
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "velero.yaml", base_dir=velero.parent)
    (p,) = info.value.problems
    assert (p.path, p.line) == ("backups.targets[0].include_kinds",
                                _line_of(text, "include_kinds:"))
    assert p.message == ("include_kinds is for resources targets: Velero backs up every kind "
                         "of the namespaces itself")

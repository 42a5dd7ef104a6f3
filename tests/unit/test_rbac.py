"""Least-privilege RBAC derived from the spec: namespaces, kinds and verbs, never wildcards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.core.rbac import (
    RbacError,
    RbacPlan,
    Rule,
    derive_rbac,
    load_component_manifests,
    plural_of,
    refuse_escalation,
    render_rbac,
    to_objects,
)
from platform_assets.names import DRILL_ROLE, RUN_NAMESPACE, drill_namespace
from platform_assets.spec.loader import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "platform" / "platform.yaml"
OTHER = ROOT / "tests" / "fixtures" / "other" / "platform.yaml"


def plan_for(path: Path) -> RbacPlan:
    spec = load_spec(path)
    return derive_rbac(spec, load_component_manifests(spec, path.parent))


@pytest.fixture(scope="module")
def example() -> RbacPlan:
    return plan_for(EXAMPLE)


def test_no_wildcards_and_no_cluster_admin() -> None:
    for path in (EXAMPLE, OTHER):
        objects = [o for o in yaml.safe_load_all(render_rbac(path)) if o]
        assert sum(len(o.get("rules", [])) for o in objects) >= 3, path
        for obj in objects:
            for rule in obj.get("rules", []):
                assert "*" not in rule["verbs"], rule
                assert "*" not in rule["resources"], rule
                assert "*" not in rule["apiGroups"], rule
            assert (obj.get("roleRef") or {}).get("name") not in ("cluster-admin", "admin",
                                                                  "edit")


def test_manifest_kinds_are_writable_only_in_their_namespace(example: RbacPlan) -> None:
    deploy = example.verbs_for("apps", "deployments", "services")
    assert {"get", "create", "patch", "update", "delete"} <= deploy
    assert example.verbs_for("networking.k8s.io", "ingresses", "services") >= {"patch", "delete"}
    # Nothing of the application is writable in a namespace the spec does not name.
    assert "default" not in example.namespace_rules
    # Across namespaces only the one list per kind a reconcile makes (label-selected).
    assert example.verbs_for("apps", "deployments", None) == {"list"}
    assert not example.verbs_for("", "secrets", None)
    assert not {"create", "patch", "delete"} & example.verbs_for("apps", "deployments",
                                                                "cert-manager")


def test_prune_false_means_no_delete(example: RbacPlan) -> None:
    # flux-sources has prune: false; its HelmRepositories may be applied but never deleted.
    verbs = example.verbs_for("source.toolkit.fluxcd.io", "helmrepositories", "flux-system")
    assert {"create", "patch"} <= verbs
    assert "delete" not in verbs


def test_allow_replace_grants_delete_only_on_kinds_a_replace_may_delete(
        example: RbacPlan) -> None:
    """flux-install (prune: false) with allow_replace: its Deployments, whose selector is
    immutable, may be deleted for a replace; its CRDs, which the table of immutable fields
    does not list, still may not."""
    text = EXAMPLE.read_text().replace(
        "    allow: {kinds: [CustomResourceDefinition]}\n    prune: false\n",
        "    allow: {kinds: [CustomResourceDefinition]}\n    prune: false\n"
        "    allow_replace: true\n")
    assert "allow_replace: true" in text
    spec = load_spec_text(text, str(EXAMPLE), base_dir=EXAMPLE.parent)
    plan = derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))
    assert "delete" not in example.verbs_for("apps", "deployments", "flux-system")
    assert "delete" in plan.verbs_for("apps", "deployments", "flux-system")
    crds = [r for r in plan.cluster_rules if "customresourcedefinitions" in r.resources]
    assert any("patch" in r.verbs for r in crds)
    assert not any("delete" in r.verbs for r in crds)


def test_cluster_scoped_objects_are_named(example: RbacPlan) -> None:
    assert "patch" in example.verbs_for("cert-manager.io", "clusterissuers", None,
                                        "letsencrypt-production")
    assert "patch" not in example.verbs_for("cert-manager.io", "clusterissuers", None,
                                            "someone-elses-issuer")
    # Only our namespaces can be patched.
    assert "patch" in example.verbs_for("", "namespaces", None, "observability")
    assert "patch" not in example.verbs_for("", "namespaces", None, "default")
    # Namespaces come from deploy time: runs neither create nor delete any.
    assert not {"create", "delete"} & example.verbs_for("", "namespaces", None)


def test_certificate_secret_is_readable_by_name_only(example: RbacPlan) -> None:
    assert example.verbs_for("", "secrets", "cert-manager", "wildcard-samcloud-online-tls") == \
        {"get"}
    assert not example.verbs_for("", "secrets", "cert-manager", "cloudflare-api-token")
    assert "list" not in example.verbs_for("", "secrets", "cert-manager")
    assert "patch" in example.verbs_for("cert-manager.io", "certificates/status", "cert-manager",
                                        "wildcard-samcloud-online")


def test_backups_and_drills(example: RbacPlan) -> None:
    # Volume target: its PVC by name, and the PV behind it.
    assert example.verbs_for("", "persistentvolumeclaims", "services", "wordpress-data") >= \
        {"get"}
    assert example.verbs_for("", "persistentvolumes", None) == {"get"}
    # Resources targets export read-only; secrets stay out (include_secrets: false).
    assert example.verbs_for("apps", "deployments", "observability") >= {"get", "list"}
    assert not example.verbs_for("", "secrets", "observability")
    # Drills: a Role in a namespace that exists from deploy time, bound there; no ClusterRole.
    drill_ns = drill_namespace("cluster-resources")
    assert example.drill_namespaces == [drill_ns]
    objects = to_objects(example)
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
             if o["kind"] in ("Role", "ClusterRole")}
    assert ("Role", drill_ns, DRILL_ROLE) in roles
    assert ("ClusterRole", None, DRILL_ROLE) not in roles
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding"
                  and o["metadata"]["namespace"] == drill_ns]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": DRILL_ROLE}
    # The drill role has no Secrets access; the drill restores workloads, inert.
    assert not any({"secrets", "roles", "rolebindings"} & set(r.resources)
                   for r in example.drill_rules)
    assert any("deployments" in r.resources for r in example.drill_rules)
    guard = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    assert guard and guard[0]["spec"]["matchConstraints"]["namespaceSelector"] == {
        "matchLabels": {"platform-ops/restore-drill": "true"}}
    assert any("replicas == 0" in v["expression"] for v in guard[0]["spec"]["validations"])


def test_drill_namespaces_are_pod_security_restricted(example: RbacPlan) -> None:
    (ns,) = [o for o in to_objects(example) if o["kind"] == "Namespace"
             and o["metadata"]["name"] == drill_namespace("cluster-resources")]
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["platform-ops/restore-drill"] == "true"


def escalations(objects: list[dict[str, Any]]) -> list[str]:
    """Every grant in ``objects`` that lets its holder widen its own power."""
    out = []
    for obj in objects:
        for rule in obj.get("rules") or []:
            where = f"{obj['kind']}/{obj['metadata']['name']}: {rule}"
            if {"bind", "escalate", "impersonate", "*"} & set(rule["verbs"]) or \
                    "*" in rule["resources"] or "*" in rule["apiGroups"]:
                out.append(where)
            if obj["kind"] == "ClusterRole" and \
                    {"rolebindings", "clusterrolebindings"} & set(rule["resources"]) and \
                    set(rule["verbs"]) - {"get", "list", "watch"}:
                out.append(where)
            if obj["kind"] == "ClusterRole" and "namespaces" in rule["resources"] and \
                    {"create", "delete"} & set(rule["verbs"]):
                out.append(where)
        if (obj.get("roleRef") or {}).get("name") in ("cluster-admin", "admin", "edit"):
            out.append(f"{obj['kind']}/{obj['metadata']['name']} binds {obj['roleRef']}")
    return out


def test_no_rbac_object_can_escalate() -> None:
    """Issue 15: the run account could create RoleBindings anywhere, ``bind`` the drill
    ClusterRole (Secrets, workloads, Roles) and create namespaces: a run could give itself
    Secret access and pod creation in kube-system. The generated RBAC and the shipped deploy
    manifests now hold no grant that widens the account's power."""
    for path in (EXAMPLE, OTHER):
        assert escalations([o for o in yaml.safe_load_all(render_rbac(path)) if o]) == []
    shipped = [o for f in sorted((ROOT / "deploy" / "manifests").glob("*.yaml"))
               for o in yaml.safe_load_all(f.read_text()) if o]
    assert sum(o["kind"] in ("Role", "ClusterRole") for o in shipped) >= 3
    assert escalations(shipped) == []


def test_the_escalation_check_catches_each_pattern() -> None:
    base = {"kind": "ClusterRole", "metadata": {"name": "x"}}
    for rule in ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                  "verbs": ["bind"]},
                 {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
                 {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                  "verbs": ["create"]},
                 {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]},
                 {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}):
        assert escalations([{**base, "rules": [rule]}]), rule
    plan = RbacPlan("sa", "ns", cluster_rules=[Rule("rbac.authorization.k8s.io",
                                                     ("rolebindings",), ("create",))])
    with pytest.raises(RbacError, match="cluster-wide writes of role bindings"):
        refuse_escalation(plan)
    with pytest.raises(RbacError, match="can escalate"):
        refuse_escalation(RbacPlan("sa", "ns", drill_rules=[Rule("", ("pods",), ("*",))]))


def test_a_component_applying_cluster_rbac_is_refused(tmp_path: Path) -> None:
    """A spec pusher adding a ClusterRoleBinding to a component's manifests would have had the
    generated RBAC grant ``create`` on clusterrolebindings."""
    spec = load_spec(EXAMPLE)
    manifests = load_component_manifests(spec, EXAMPLE.parent)
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "wordpress-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "wordpress",
                         "namespace": "services"}]}
    manifests["wordpress"] = [*manifests["wordpress"], crb]
    with pytest.raises(RbacError, match="wordpress applies ClusterRoleBinding/wordpress-admin"):
        derive_rbac(spec, manifests)


def test_job_namespace_allows_step_jobs(example: RbacPlan) -> None:
    assert {"create", "get", "delete"} <= example.verbs_for("batch", "jobs", RUN_NAMESPACE)
    assert "get" in example.verbs_for("", "pods/log", RUN_NAMESPACE)
    # Elsewhere Jobs are only read (the resources backup exports them), except where a
    # `files` volume target's agent Job mounts its claim (services: wordpress-files).
    assert not {"create", "delete"} & example.verbs_for("batch", "jobs", "security")
    assert {"create", "delete"} <= example.verbs_for("batch", "jobs", "services")
    assert "get" in example.verbs_for("", "pods/log", "services")
    # The agent's Secret is only read, by name: never patched. Runs write only the Secrets
    # components wire outputs into (services: the pull Secret and the cache's password), by
    # name; their create cannot be limited by name (Kubernetes authorizes create unnamed).
    assert example.verbs_for("", "secrets", "services", "platform-ops-volume-agent") >= {"get"}
    assert "patch" not in example.verbs_for("", "secrets", "services",
                                            "platform-ops-volume-agent")
    assert "patch" in example.verbs_for("", "secrets", "services", "samcloud-registry")
    assert not {"create", "patch"} & example.verbs_for("", "secrets", "observability",
                                                        "platform-ops-volume-agent")


def test_secrets_are_never_listable(example: RbacPlan) -> None:
    """The reconcile reads Secrets one GET per name, so no namespace's Secrets are listable
    (a list returns every Secret's data): only the example's backup export could list them,
    and its target leaves Secrets out (include_secrets: false)."""
    for ns in [None, *example.namespace_rules]:
        assert not {"list", "watch"} & example.verbs_for("", "secrets", ns), ns
        assert not {"list", "watch"} & example.verbs_for("", "secrets", ns, "samcloud-registry")
    assert example.verbs_for("", "secrets", "services") == {"create"}
    for name in ("samcloud-registry", "wordpress-cache-auth"):
        assert example.verbs_for("", "secrets", "services", name) == {
            "get", "create", "patch", "delete"}


def test_a_wired_secret_is_deleted_by_name_only_where_its_component_prunes() -> None:
    """A Secret a wiring writes (a registry's pull Secret) is its component's object: pruned,
    by the RBAC deployed for the spec that wired it, once the wiring leaves the spec, as a
    manifest Secret is; a component that does not prune is not granted the delete."""
    text = EXAMPLE.read_text()
    assert text.count("  - name: wordpress\n    namespace: services\n") == 1
    kept = text.replace("  - name: wordpress\n    namespace: services\n",
                        "  - name: wordpress\n    namespace: services\n    prune: false\n")
    spec = load_spec_text(kept, str(EXAMPLE), base_dir=EXAMPLE.parent)
    plan = derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))
    assert plan.verbs_for("", "secrets", "services", "samcloud-registry") == {
        "get", "create", "patch"}


def test_a_manifest_secret_is_granted_by_name() -> None:
    """A Secret in a component's manifests: read, patched and pruned by its name, created
    unnamed (Kubernetes cannot name a create), never listed or watched; a health check on a
    Secret reads it by name too."""
    spec = load_spec(OTHER)
    manifests = load_component_manifests(spec, OTHER.parent)
    comp = next(c for c in spec.components if c.name == "shop")
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "api-key", "namespace": comp.namespace}}
    plan = derive_rbac(spec, {**manifests, comp.name: [*manifests[comp.name], secret]})
    assert plan.verbs_for("", "secrets", comp.namespace) == {"create"}
    assert plan.verbs_for("", "secrets", comp.namespace, "api-key") == {
        "get", "create", "patch", "update", "delete"}
    text = OTHER.read_text().replace(
        "    source: {manifests: {path: manifests/shop}}\n",
        "    source: {manifests: {path: manifests/shop}}\n"
        "    health: [{kind: Secret, name: ready-flag, api_version: v1}]\n")
    checked = load_spec_text(text, str(OTHER), base_dir=OTHER.parent)
    plan = derive_rbac(checked, manifests)
    assert plan.verbs_for("", "secrets", comp.namespace, "ready-flag") == {"get"}
    assert not plan.verbs_for("", "secrets", comp.namespace)


def test_a_different_spec_gives_different_rules() -> None:
    other = plan_for(OTHER)
    assert set(other.namespace_rules) == {"ingress", "shop", "flux-system", RUN_NAMESPACE}
    assert "delete" in other.verbs_for("", "configmaps", "shop")
    assert "patch" in other.verbs_for("helm.toolkit.fluxcd.io", "helmreleases", "ingress")
    assert "patch" in other.verbs_for("kustomize.toolkit.fluxcd.io", "kustomizations",
                                      "flux-system")
    # No backups, no certificates: nothing on PVs, secrets or drills.
    assert not other.verbs_for("", "persistentvolumes", None)
    assert not other.drill_rules
    assert not any("secrets" in r.resources for r in other.all_rules())


def test_rendered_yaml_binds_the_service_account() -> None:
    objects = list(yaml.safe_load_all(render_rbac(EXAMPLE, service_account="runner",
                                                  job_namespace="ops")))
    sa = [o for o in objects if o["kind"] == "ServiceAccount"]
    assert sa == [{"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "runner", "namespace": "ops",
                                "labels": {"app.kubernetes.io/managed-by": "platform-ops"}}}]
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "runner",
                                        "namespace": "ops"}]
    roles = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
             if o["kind"] == "Role"}
    bindings = {(o["metadata"].get("namespace"), o["roleRef"]["name"]) for o in objects
                if o["kind"] == "RoleBinding"}
    assert roles == bindings
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert "kube-system" not in namespaces and "ops" in namespaces


def test_plurals() -> None:
    assert plural_of("NetworkPolicy") == "networkpolicies"
    assert plural_of("Ingress") == "ingresses"
    assert plural_of("Gateway") == "gateways"
    assert plural_of("ClusterSecretStore") == "clustersecretstores"


def test_unknown_health_kind_needs_api_version() -> None:
    text = EXAMPLE.read_text().replace(
        "      - {kind: Deployment, name: wordpress}",
        "      - {kind: Widget, name: wordpress}")
    spec = load_spec_text(text, str(EXAMPLE), base_dir=EXAMPLE.parent)
    with pytest.raises(RbacError, match="Widget"):
        derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))


def test_committed_manifests_are_up_to_date() -> None:
    from platform_assets.core.rbac import render_drill_guard

    manifests = ROOT / "deploy" / "manifests"
    assert (manifests / "rbac.yaml").read_text() == \
        render_rbac(EXAMPLE, include_admission_policy=False), \
        "regenerate deploy/manifests/rbac.yaml (docs/production.md)"
    assert (manifests / "drill-guard.yaml").read_text() == render_drill_guard(EXAMPLE)


def test_a_previous_namespace_grants_only_the_prune_of_what_the_component_left_there() -> None:
    """A component moved from ``old-shop``: there the run may delete, by name, each object it
    applies in its namespace and its old inventory, and read its Secrets by name to find them;
    nothing unnamed, no write but the delete. Without pruning, nothing at all."""
    spec = load_spec(OTHER)
    manifests = load_component_manifests(spec, OTHER.parent)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "api-key", "namespace": "shop"}}
    moved = OTHER.read_text().replace(
        "    source: {manifests: {path: manifests/shop}}\n",
        "    source: {manifests: {path: manifests/shop}}\n    previous_namespaces: [old-shop]\n")
    spec = load_spec_text(moved, str(OTHER), base_dir=OTHER.parent)
    plan = derive_rbac(spec, {**manifests, "shop": [*manifests["shop"], secret]})
    rules = plan.namespace_rules["old-shop"]
    assert sorted((r.resources[0], tuple(r.resource_names), tuple(r.verbs)) for r in rules) == [
        ("configmaps", ("platform-ops-inventory-shop", "shop-settings"), ("delete",)),
        ("secrets", ("api-key",), ("get", "delete"))]
    kept = load_spec_text(moved.replace("previous_namespaces: [old-shop]\n",
                                        "previous_namespaces: [old-shop]\n    prune: false\n"),
                          str(OTHER), base_dir=OTHER.parent)
    assert "old-shop" not in derive_rbac(kept, manifests).namespace_rules


def test_an_absent_component_is_granted_only_the_delete_of_what_it_applied() -> None:
    """Both components of ``shop`` absent: there the run may delete, by name, each object
    their sources apply (the Kustomization in flux-system too) and their inventories, get
    those read by name and the inventories, and list the kinds across namespaces; nothing to
    create, patch or update, nothing unnamed."""
    spec = load_spec(OTHER)
    manifests = load_component_manifests(spec, OTHER.parent)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "api-key", "namespace": "shop"}}
    text = OTHER.read_text().replace(
        "    source: {manifests: {path: manifests/shop}}\n",
        "    source: {manifests: {path: manifests/shop}}\n    absent: true\n").replace(
        "    depends_on: [shop]\n", "    absent: true\n")
    spec = load_spec_text(text, str(OTHER), base_dir=OTHER.parent)
    plan = derive_rbac(spec, {**manifests, "shop": [*manifests["shop"], secret]})
    granted = sorted((ns, r.resources[0], tuple(r.resource_names), tuple(r.verbs))
                     for ns in ("shop", "flux-system") for r in plan.namespace_rules[ns])
    assert granted == [
        ("flux-system", "kustomizations", ("shop-worker",), ("delete",)),
        ("shop", "configmaps", ("platform-ops-inventory-shop",
                                "platform-ops-inventory-shop-worker"), ("get",)),
        ("shop", "configmaps", ("platform-ops-inventory-shop",
                                "platform-ops-inventory-shop-worker", "shop-settings"),
         ("delete",)),
        ("shop", "secrets", ("api-key",), ("get", "delete"))]
    assert plan.verbs_for("", "configmaps") >= {"list"}
    assert not plan.verbs_for("", "secrets")


def drill_verbs(plan: RbacPlan, group: str, resource: str) -> set[str]:
    return {v for r in plan.drill_rules if r.api_group == group and resource in r.resources
            for v in r.verbs}


def test_every_workload_kind_is_exported_and_drilled_inert(example: RbacPlan) -> None:
    """The older workload kinds are exported with the rest (a ReplicationController, a bare
    ReplicaSet or Pod, a PodTemplate), read-only; the drill Role restores the first two and
    PodTemplates, and may only dry-run Pods (create and patch, which the API server checks for
    a dry run too); the guard holds ReplicationControllers to 0 replicas as the apps kinds."""
    for group, resource in (("", "replicationcontrollers"), ("", "podtemplates"), ("", "pods"),
                            ("apps", "replicasets")):
        assert example.verbs_for(group, resource, "security") == {"get", "list"}, resource
    for group, resource in (("", "replicationcontrollers"), ("", "podtemplates"),
                            ("apps", "replicasets")):
        assert drill_verbs(example, group, resource) == {
            "get", "list", "watch", "create", "patch", "update", "delete"}, resource
    assert drill_verbs(example, "", "pods") == {"create", "patch"}
    (guard,) = [o for o in to_objects(example) if o["kind"] == "ValidatingAdmissionPolicy"]
    core = [r for r in guard["spec"]["matchConstraints"]["resourceRules"]
            if r["apiGroups"] == [""]]
    assert core == [{"apiGroups": [""], "apiVersions": ["v1"],
                     "operations": ["CREATE", "UPDATE"],
                     "resources": ["pods", "replicationcontrollers", "services"]}]
    assert any("'ReplicationController'" in v["expression"] and "replicas == 0" in
               v["expression"] for v in guard["spec"]["validations"])


def test_ingresses_are_only_dry_run_by_drills_and_services_restored(example: RbacPlan) -> None:
    """Ingresses are exported and only dry-run by drills (create and patch, as Pods); Services
    are restored (a ClusterIP one is) and the guard, not RBAC, which cannot tell a Service's
    type, holds LoadBalancer and NodePort ones to dry runs."""
    assert example.verbs_for("networking.k8s.io", "ingresses", "security") == {"get", "list"}
    assert drill_verbs(example, "networking.k8s.io", "ingresses") == {"create", "patch"}
    assert drill_verbs(example, "networking.k8s.io", "networkpolicies") == {
        "get", "list", "watch", "create", "patch", "update", "delete"}
    assert "delete" in drill_verbs(example, "", "services")
    (guard,) = [o for o in to_objects(example) if o["kind"] == "ValidatingAdmissionPolicy"]
    rules = guard["spec"]["matchConstraints"]["resourceRules"]
    assert {"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"]} in rules
    (gateway,) = [r for r in rules if r["apiGroups"] == ["gateway.networking.k8s.io"]]
    assert {"gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes"} <= \
        set(gateway["resources"])


def test_a_component_applying_a_bare_pod_gets_the_drill_no_more_than_its_dry_run() -> None:
    """Every namespaced kind a component applies is exported and restored by drills; a Pod a
    component applies is still only dry-run by a drill, so the drill Role gains no delete or
    real create of Pods from it."""
    spec = load_spec(EXAMPLE)
    manifests = load_component_manifests(spec, EXAMPLE.parent)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once", "namespace":
                                                         "services"}}
    plan = derive_rbac(spec, {**manifests, "wordpress": [*manifests["wordpress"], pod]})
    assert drill_verbs(plan, "", "pods") == {"create", "patch"}


def _with_included(kinds: str) -> RbacPlan:
    text = EXAMPLE.read_text()
    old = "      include_secrets: false\n"
    assert text.count(old) == 1
    spec = load_spec_text(text.replace(old, old + f"      include_kinds: {kinds}\n"),
                          str(EXAMPLE), base_dir=EXAMPLE.parent)
    return derive_rbac(spec, load_component_manifests(spec, EXAMPLE.parent))


def test_include_kinds_are_listed_in_the_namespaces_and_only_dry_run_by_drills() -> None:
    """A kind include_kinds adds is read (get, list) in each namespace of its target and
    nowhere else; the drill Role may only dry-run it (create and patch) and the guard admits it
    only as a dry run; a well-known kind listed there changes nothing."""
    plan = _with_included("[v1/Endpoints, example.com/v1/Widget, apps/v1/Deployment]")
    for ns in ("flux-system", "cert-manager", "security", "observability", "services"):
        assert plan.verbs_for("", "endpoints", ns) == {"get", "list"}, ns
        assert plan.verbs_for("example.com", "widgets", ns) == {"get", "list"}, ns
    assert not plan.verbs_for("example.com", "widgets", None)
    assert not plan.verbs_for("example.com", "widgets", RUN_NAMESPACE)
    assert drill_verbs(plan, "", "endpoints") == {"create", "patch"}
    assert drill_verbs(plan, "example.com", "widgets") == {"create", "patch"}
    assert plan.drill_dry_run == [("", "Endpoints"), ("example.com", "Widget")]
    assert "delete" in drill_verbs(plan, "apps", "deployments")
    (guard,) = [o for o in to_objects(plan) if o["kind"] == "ValidatingAdmissionPolicy"]
    rules = guard["spec"]["matchConstraints"]["resourceRules"]
    assert {"apiGroups": ["example.com"], "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"], "resources": ["widgets"]} in rules
    assert {"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
            "resources": ["endpoints"]} in rules
    (dry,) = [v for v in guard["spec"]["validations"] if "include_kinds" in v["message"]]
    assert "'/Endpoints', 'example.com/Widget'" in dry["expression"]
    refuse_escalation(plan)


def test_a_component_waiting_for_a_claim_may_read_its_storage_class(tmp_path: Path) -> None:
    """A Pending claim's health depends on its class's binding mode: ``get`` on the class by
    name where the claim names it, unnamed where it takes the cluster's default (whose name
    the DefaultStorageClass admission plugin writes), nothing without a claim."""
    from tests.unit.engine_fakes import make_graph

    def grants(cls: str | None) -> tuple[set[str], set[str]]:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "1Gi"}}}
        if cls is not None:
            spec["storageClassName"] = cls
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                 "metadata": {"name": "data"}, "spec": spec}
        graph = make_graph(tmp_path / str(cls), [claim] if cls != "none" else [])
        plan = derive_rbac(graph.spec, load_component_manifests(graph.spec, tmp_path / str(cls)))
        return (plan.verbs_for("storage.k8s.io", "storageclasses", None, "fast"),
                plan.verbs_for("storage.k8s.io", "storageclasses", None, "other"))

    assert grants("fast") == ({"get"}, set())
    assert grants(None) == ({"get"}, {"get"})
    assert grants("none") == (set(), set())

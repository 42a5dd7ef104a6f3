"""Spec errors of the DBaaS sections (PostgreSQL): file, line and field for each bad input."""

from __future__ import annotations

import pytest

from platform_assets.core.graph import build_graph, postgres_key
from platform_assets.spec import SpecError, load_spec_text
from platform_assets.spec.loader import DEFAULT_SPEC

EXAMPLE = DEFAULT_SPEC.read_text()
POSTGRES = """\
  postgres:
    - name: apps-db
      version: "{version}"
      ram: {ram}
      lan: {lan}
      cidr: {cidr}
      maintenance_window: {{day: Sunday, time: "08:00"}}
      database: apps
      username: {user}
"""


def with_postgres(version: str = "16", lan: str = "k8s-private", cidr: str = "10.7.222.110/24",
                  user: str = "apps", ram: str = "4GB") -> str:
    block = POSTGRES.format(version=version, lan=lan, cidr=cidr, user=user, ram=ram)
    return EXAMPLE.replace("  buckets:\n", block + "  buckets:\n", 1)


def problems(text: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "platform.yaml")
    return str(exc.value)


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_a_postgres_cluster_becomes_an_infrastructure_asset_after_its_lan() -> None:
    spec = load_spec_text(with_postgres(), "platform.yaml")
    node = build_graph(spec).nodes[postgres_key("apps-db")]
    assert node.group == "infrastructure" and node.kind == "postgres"
    assert ("ionos", "lan", "k8s-private") in node.deps
    assert node.kinds == frozenset({"ionos", "postgres"})


def test_a_postgres_cluster_on_a_lan_that_does_not_exist_names_the_line() -> None:
    text = with_postgres(lan="nowhere")
    line = line_of(text, "      lan: nowhere")
    assert (f"platform.yaml:{line}: ionos.postgres[0].lan: unknown LAN 'nowhere'; expected one "
            "of ['edge-public', 'k8s-private']") in problems(text)


@pytest.mark.parametrize("version", ["13", "16.2", "18"])
def test_an_unsupported_postgres_version_names_the_line(version: str) -> None:
    text = with_postgres(version=version)
    line = line_of(text, f'      version: "{version}"')
    out = problems(text)
    assert f"platform.yaml:{line}: ionos.postgres[0].version: '{version}' is not allowed" in out
    assert "'14', '15', '16' or '17'" in out


@pytest.mark.parametrize(("field", "kwargs", "expected"), [
    ("username", {"user": "postgres"}, "reserved by IONOS PostgreSQL"),
    ("cidr", {"cidr": "10.7.222.300/24"}, "not a valid IPv4 address/prefix"),
    ("cidr", {"cidr": "10.7.222.110"}, "needs a prefix"),
])
def test_bad_postgres_fields_name_their_line(field: str, kwargs: dict[str, str],
                                             expected: str) -> None:
    text = with_postgres(**kwargs)
    value = next(iter(kwargs.values()))
    line = line_of(text, f"      {field}: {value}")
    out = problems(text)
    assert f"platform.yaml:{line}: ionos.postgres[0].{field}: " in out and expected in out


def test_postgres_ram_outside_the_api_bounds_is_refused() -> None:
    assert "4GB to 240GB" in problems(with_postgres(ram="2GB"))


WIRING = """\
        - asset: {asset}
          {target}: apps-db
          keys: {{{output}: DB_VALUE}}
"""


def with_wiring(asset: str = "postgres/apps-db", target: str = "config_map",
                output: str = "host") -> str:
    text = with_postgres()
    anchor = "      infrastructure:\n"
    assert anchor in text
    return text.replace(anchor, anchor + WIRING.format(asset=asset, target=target,
                                                       output=output), 1)


def test_infrastructure_inputs_wire_the_component_after_the_asset() -> None:
    from platform_assets.core.graph import KEY_MARIADB, component_key

    graph = build_graph(load_spec_text(with_wiring(), "platform.yaml"))
    deps = graph.nodes[component_key("applications", "wordpress")].deps
    assert postgres_key("apps-db") in deps and KEY_MARIADB in deps
    assert component_key("applications", "wordpress") in graph.downstream(
        {postgres_key("apps-db")})


@pytest.mark.parametrize(("kwargs", "field", "expected"), [
    ({"asset": "postgres/other"}, "asset",
     "unknown infrastructure asset 'postgres/other'; expected one of "
     "['inmemorydb/wordpress-cache', 'ip_block/ingress', 'mariadb', 'postgres/apps-db', "
     "'registry/samcloud']"),
    ({"output": "hostname"}, "keys.hostname",
     "postgres/apps-db has no output 'hostname'; expected one of ['database', 'host', "
     "'password', 'port', 'user']"),
    ({"output": "password"}, "keys.password",
     "'password' is a secret: write it into a Secret (secret: <name>), never a ConfigMap"),
])
def test_bad_infrastructure_inputs_name_file_line_and_field(kwargs: dict[str, str], field: str,
                                                            expected: str) -> None:
    text = with_wiring(**kwargs)
    out = problems(text)
    assert f"applications[0].inputs.infrastructure[0].{field}: {expected}" in out, out
    assert "platform.yaml:" in out


def test_an_infrastructure_input_needs_exactly_one_target() -> None:
    text = with_wiring().replace("          config_map: apps-db\n",
                                 "          config_map: apps-db\n          secret: apps-db\n")
    assert "exactly one of config_map or secret" in problems(text)


def test_secret_outputs_are_base64_in_an_opaque_secret() -> None:
    from platform_assets.core import outputs

    spec = load_spec_text(with_wiring(target="secret", output="password"), "platform.yaml")
    comp = spec.component("wordpress")
    wiring = comp.inputs.infrastructure[0]
    values = outputs.postgres_values(spec.ionos.postgres[0], None, "S3cret-pw@1")
    obj = outputs.output_object(comp, wiring, values)
    assert obj == {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "apps-db", "namespace": "services"},
                   "data": {"DB_VALUE": "UzNjcmV0LXB3QDE="}}
    plain = wiring.model_copy(update={"secret": None, "config_map": "x", "keys": {"host": "H"}})
    cm = outputs.output_object(comp, plain, outputs.postgres_values(spec.ionos.postgres[0], None))
    assert cm["kind"] == "ConfigMap"
    assert cm["data"] == {"H": "(known after the PostgreSQL cluster is created)"}


def test_the_example_cache_is_an_in_memory_db_wired_into_wordpress() -> None:
    from platform_assets.core.graph import component_key, inmemorydb_key

    spec = load_spec_text(EXAMPLE, "platform.yaml")
    (cache,) = spec.ionos.inmemorydb
    assert (cache.name, cache.instances, cache.persistence_mode) == ("wordpress-cache", 3, "RDB")
    graph = build_graph(spec)
    assert inmemorydb_key("wordpress-cache") in graph.nodes[
        component_key("applications", "wordpress")].deps


@pytest.mark.parametrize(("old", "new", "field", "expected"), [
    ("      cidr: 10.7.222.120/24", "      cidr: 10.210.0.5/24", "cidr", "reserves"),
    ('      version: "7.2"', '      version: "6.2"', "version", "'6.2' is not allowed"),
    ("      lan: k8s-private\n      cidr: 10.7.222.120/24",
     "      lan: nowhere\n      cidr: 10.7.222.120/24", "lan", "unknown LAN 'nowhere'"),
])
def test_bad_in_memory_db_fields_name_their_line(old: str, new: str, field: str,
                                                 expected: str) -> None:
    assert old in EXAMPLE
    text = EXAMPLE.replace(old, new, 1)
    line = line_of(text, new.split("\n")[0]) if field != "lan" else line_of(
        text, "      lan: nowhere")
    out = problems(text)
    assert f"platform.yaml:{line}: ionos.inmemorydb[0].{field}: " in out and expected in out, out

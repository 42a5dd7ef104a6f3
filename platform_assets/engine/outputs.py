"""Reading the outputs a component's ``inputs`` wire in: one reader per kind of infrastructure
asset (``OUTPUT_READERS``), each looking the asset up through the cloud API and turning it into
values with the pure ``core.outputs``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from platform_assets.core import outputs, registry
from platform_assets.core.ports import Json
from platform_assets.engine.handler import Options, ReconcileError, Runtime, guarded
from platform_assets.engine.registry import read_secret
from platform_assets.spec.models import Component, ContainerRegistry, InfrastructureInput

Reader = Callable[[Runtime, InfrastructureInput, Options], dict[str, str]]


def _found(what: str, asset: str, obj: Json | None, opts: Options) -> Json | None:
    if obj is None and not opts.dry_run:
        raise ReconcileError(f"the {what} of inputs {asset!r} does not exist: reconcile "
                             f"ionos/{asset} first")
    return obj


def _password(rt: Runtime, w: InfrastructureInput, variable: str, opts: Options) -> str | None:
    """The password output, from the variable the spec names (only when the wiring asks)."""
    if "password" not in w.keys:
        return None
    value = rt.env(variable)
    if value:
        return value
    if opts.dry_run:
        return f"(from ${variable})"
    raise ReconcileError(f"inputs {w.asset!r} asks for the password: set the environment "
                         f"variable {variable}")


def _mariadb(rt: Runtime, w: InfrastructureInput, opts: Options) -> dict[str, str]:
    db = rt.spec.mariadb
    if db is None:
        raise ReconcileError("inputs 'mariadb' needs ionos.mariadb in the spec")
    cluster = guarded(f"GET MariaDB cluster {db.name}", partial(rt.cloud().find_mariadb, db.name))
    return outputs.mariadb_values(db, _found("MariaDB cluster", w.asset, cluster, opts),
                                  _password(rt, w, db.password_env, opts))


def _postgres(rt: Runtime, w: InfrastructureInput, opts: Options) -> dict[str, str]:
    pg = next((p for p in rt.spec.ionos_infra.postgres if p.name == w.name), None)
    if pg is None:
        raise ReconcileError(f"inputs {w.asset!r}: no ionos.postgres entry named {w.name!r}")
    cluster = guarded(f"GET PostgreSQL cluster {pg.name}",
                      partial(rt.cloud().find_postgres, pg.name))
    return outputs.postgres_values(pg, _found("PostgreSQL cluster", w.asset, cluster, opts),
                                   _password(rt, w, pg.password_env, opts))


def _inmemorydb(rt: Runtime, w: InfrastructureInput, opts: Options) -> dict[str, str]:
    mem = next((m for m in rt.spec.ionos_infra.inmemorydb if m.name == w.name), None)
    if mem is None:
        raise ReconcileError(f"inputs {w.asset!r}: no ionos.inmemorydb entry named {w.name!r}")
    cluster = guarded(f"GET In-Memory DB cluster {mem.name}",
                      partial(rt.cloud().find_inmemorydb, mem.name))
    return outputs.inmemorydb_values(mem, _found("in-memory database", w.asset, cluster, opts),
                                     _password(rt, w, mem.password_env, opts))


def _ip_block(rt: Runtime, w: InfrastructureInput, opts: Options) -> dict[str, str]:
    block = next((b for b in rt.spec.ionos_infra.ip_blocks if b.name == w.name), None)
    if block is None:
        raise ReconcileError(f"inputs {w.asset!r}: no ionos.ip_blocks entry named {w.name!r}")
    found = guarded(f"GET IP block {block.name}", partial(rt.cloud().find_ip_block, block.name))
    return outputs.ip_block_values(_found("IP block", w.asset, found, opts))


def _container_registry(rt: Runtime, w: InfrastructureInput) -> ContainerRegistry:
    reg = next((r for r in rt.spec.ionos_infra.registries if r.name == w.name), None)
    if reg is None:
        raise ReconcileError(f"inputs {w.asset!r}: no ionos.registries entry named {w.name!r}")
    return reg


def _registry(rt: Runtime, w: InfrastructureInput, opts: Options) -> dict[str, str]:
    reg = _container_registry(rt, w)
    found = guarded(f"GET container registry {reg.name}",
                    partial(rt.cloud().find_registry, reg.name))
    hostname = ((_found("container registry", w.asset, found, opts) or {})
                .get("properties") or {}).get("hostname")
    return {"hostname": str(hostname or outputs.not_yet("container registry"))}


def _pull_secret(rt: Runtime, comp: Component, w: InfrastructureInput, opts: Options) -> Json:
    """The image pull Secret of a registry input, as the registry's reconcile wrote it: the
    token's password exists nowhere else (IONOS shows it once, when the token is created)."""
    reg = _container_registry(rt, w)
    ps = registry.PullSecret(comp, str(w.token), str(w.secret))
    api = rt.cloud()
    found = guarded(f"GET container registry {reg.name}", partial(api.find_registry, reg.name))
    tokens = guarded(f"GET tokens of registry {reg.name}", partial(
        api.list_registry_tokens, str(found["id"]))) if found else []
    token_id = next((str(t["id"]) for t in tokens
                     if (t.get("properties") or {}).get("name") == w.token), None)
    secret = read_secret(rt, ps, opts)
    state = registry.secret_state(secret, token_id)
    config = registry.held_config(secret)
    if state == registry.CURRENT and config is not None and token_id is not None:
        return registry.pull_output(w, comp, config, token_id)
    if opts.dry_run:
        return registry.pull_output(w, comp, outputs.not_yet(f"token {w.token}"), "(new)")
    raise ReconcileError(f"inputs {w.asset!r}: pull Secret {ps.key} {state} of {w.token}; "
                         f"reconcile ionos/registry/{reg.name} first: it creates the token and "
                         "writes its credentials there")


OUTPUT_READERS: dict[str, Reader] = {
    "mariadb": _mariadb,
    "postgres": _postgres,
    "inmemorydb": _inmemorydb,
    "ip_block": _ip_block,
    "registry": _registry,
}


def input_objects(rt: Runtime, comp: Component, opts: Options) -> list[Json]:
    """The ConfigMaps and Secrets of infrastructure outputs the component reads."""
    out = []
    for w in comp.inputs.wirings:
        if w.kind == "registry" and w.token:
            out.append(_pull_secret(rt, comp, w, opts))
            continue
        reader = OUTPUT_READERS.get(w.kind)
        if reader is None:
            raise ReconcileError(f"inputs {w.asset!r}: no outputs are known for {w.kind}")
        out.append(outputs.output_object(comp, w, reader(rt, w, opts)))
    return out

"""The IONOS Container Registry API (``ionoscloud_container_registry`` 2.x) for
``IonosCloudResource``, which mixes ``IonosRegistries`` in.

The calls go through the resource's bounded retries and waits. A token's password is in the
answer to its POST only: ``create_registry_token`` hands it to the caller and never logs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Log = Callable[[str], Any] | None

# One global endpoint (the SDK's default host); IONOS_REGISTRY_URL points elsewhere.
REGISTRY_URL = "https://api.ionos.com/containerregistries"
IONOS_REGISTRY_URL = "IONOS_REGISTRY_URL"


class _Resource(Protocol):
    """What the mixin uses of ``IonosCloudResource``."""

    registry_url: str | None

    def _client_once(self, key: str, build: Callable[[], Any]) -> Any: ...

    def _dbaas_client(self, sdk: Any, host: str) -> Any: ...

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T: ...

    def to_json(self, model: Any) -> Any: ...

    def _find_named(self, items: Any, name: str, key: str = "name") -> dict[str, Any] | None: ...

    def create_once(self, describe: str, create: Callable[[], T], find: Callable[[], Any],
                    log: Log = None) -> Any: ...

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = ..., *, log: Log = None,
                   target: str = ..., state: Callable[[T], str] = ...) -> T: ...

    def registry_client(self) -> Any: ...

    def list_registries(self) -> list[dict[str, Any]]: ...

    def find_registry(self, name: str) -> dict[str, Any] | None: ...

    def registry_ready(self, registry_id: str, log: Log = None) -> dict[str, Any]: ...

    def list_registry_tokens(self, registry_id: str) -> list[dict[str, Any]]: ...


def _registry_state(r: Any) -> str:
    return str(getattr(r.metadata, "state", None))


class IonosRegistries:
    """Container registries and their tokens (mixed into ``IonosCloudResource``)."""

    def registry_client(self: _Resource) -> Any:
        """The ``ionoscloud_container_registry.ApiClient``, built on first use."""
        def build() -> Any:
            import ionoscloud_container_registry as cr

            host = self.registry_url or os.environ.get(IONOS_REGISTRY_URL) or REGISTRY_URL
            return self._dbaas_client(cr, host)

        return self._client_once("registry", build)

    def list_registries(self: _Resource) -> list[dict[str, Any]]:
        """Every container registry of the contract (JSON), every page."""
        import ionoscloud_container_registry as cr

        api = cr.RegistriesApi(self.registry_client())
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.to_json(self.call(
                "GET /registries (Container Registry)",
                partial(api.registries_get, limit="1000", pagination_token=token)))
            out.extend((page or {}).get("items") or [])
            token = ((page or {}).get("pagination") or {}).get("token")
            if not token:
                return out

    def find_registry(self: _Resource, name: str) -> dict[str, Any] | None:
        """The registry named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_registries()}, name)

    def registry_ready(self: _Resource, registry_id: str, log: Log = None) -> dict[str, Any]:
        """Poll the registry until Running (its hostname is allocated then)."""
        import ionoscloud_container_registry as cr

        api = cr.RegistriesApi(self.registry_client())
        obj = self.wait_until(
            f"GET /registries/{registry_id} (Container Registry)",
            lambda: api.registries_find_by_id(registry_id),
            lambda r: _registry_state(r) == "Running", log=log, target="Running",
            state=_registry_state)
        return dict(self.to_json(obj))

    def create_registry(self: _Resource, props: dict[str, Any],
                        log: Log = None) -> dict[str, Any]:
        """Create a registry and wait until it runs; never a duplicate after a transient
        failure."""
        import ionoscloud_container_registry as cr

        api = cr.RegistriesApi(self.registry_client())
        body = cr.PostRegistryInput.from_dict({"properties": props})
        out = self.create_once(f"POST /registries ({props['name']}, Container Registry)",
                               lambda: self.to_json(api.registries_post(body)),
                               lambda: self.find_registry(props["name"]), log)
        return self.registry_ready(out["id"], log)

    def update_registry(self: _Resource, registry_id: str, patch: dict[str, Any],
                        log: Log = None) -> dict[str, Any]:
        """PATCH the registry's garbage collection schedule and features."""
        import ionoscloud_container_registry as cr

        api = cr.RegistriesApi(self.registry_client())
        body = cr.PatchRegistryInput.from_dict(patch)
        return dict(self.to_json(self.call(
            f"PATCH /registries/{registry_id} (Container Registry)",
            lambda: api.registries_patch(registry_id, body), log)))

    def list_registry_tokens(self: _Resource, registry_id: str) -> list[dict[str, Any]]:
        """The registry's tokens (JSON; their passwords are always empty here)."""
        import ionoscloud_container_registry as cr

        api = cr.TokensApi(self.registry_client())
        out: list[dict[str, Any]] = []
        offset, limit = 0, 1000
        while True:
            page = self.to_json(self.call(
                f"GET /registries/{registry_id}/tokens?offset={offset} (Container Registry)",
                partial(api.registries_tokens_get, registry_id, offset=str(offset),
                        limit=str(limit))))
            items = list((page or {}).get("items") or [])
            out.extend(items)
            if len(items) < limit:
                return out
            offset += len(items)

    def create_registry_token(self: _Resource, registry_id: str, props: dict[str, Any],
                              log: Log = None) -> tuple[dict[str, Any], dict[str, str]]:
        """Create a token; return it (JSON, without its password) and its credentials
        (``username``, ``password``), which the API shows only now.

        A create retried after a transient failure may find the token made by the first try,
        whose password is lost: it is deleted and created once more.
        """
        import ionoscloud_container_registry as cr

        api = cr.TokensApi(self.registry_client())
        describe = f"POST /registries/{registry_id}/tokens ({props['name']}, Container Registry)"

        def find() -> Any:
            return next((t for t in self.list_registry_tokens(registry_id)
                         if (t.get("properties") or {}).get("name") == props["name"]), None)

        def post() -> Any:
            body = cr.PostTokenInput.from_dict({"properties": props})
            return self.to_json(api.registries_tokens_post(registry_id, body))

        out = self.create_once(describe, post, find, log)
        creds = dict(((out.get("properties") or {}).get("credentials")) or {})
        if not creds.get("password"):
            self.call(f"DELETE /registries/{registry_id}/tokens/{out['id']} (its password was "
                      "lost to a retried create)",
                      lambda: api.registries_tokens_delete(registry_id, out["id"]), log)
            out = self.call(describe, post, log)
            creds = dict(((out.get("properties") or {}).get("credentials")) or {})
        token = {**out, "properties": {k: v for k, v in (out.get("properties") or {}).items()
                                       if k != "credentials"}}
        return token, {"username": str(creds.get("username") or props["name"]),
                       "password": str(creds.get("password") or "")}

    def update_registry_token(self: _Resource, registry_id: str, token_id: str,
                              patch: dict[str, Any], log: Log = None) -> dict[str, Any]:
        """PATCH a token's scopes, expiry date and status."""
        import ionoscloud_container_registry as cr

        api = cr.TokensApi(self.registry_client())
        body = cr.PatchTokenInput.from_dict(patch)
        return dict(self.to_json(self.call(
            f"PATCH /registries/{registry_id}/tokens/{token_id} (Container Registry)",
            lambda: api.registries_tokens_patch(registry_id, token_id, body), log)))

    def delete_registry_token(self: _Resource, registry_id: str, token_id: str,
                              log: Log = None) -> None:
        """DELETE a token (its pull Secrets stop working)."""
        import ionoscloud_container_registry as cr

        api = cr.TokensApi(self.registry_client())
        self.call(f"DELETE /registries/{registry_id}/tokens/{token_id} (Container Registry)",
                  lambda: api.registries_tokens_delete(registry_id, token_id), log)

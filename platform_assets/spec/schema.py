"""The JSON Schema of the platform spec, generated from the models (pure).

Editors validate and complete ``platform.yaml`` with it through the modeline the example spec
starts with (``# yaml-language-server: $schema=platform.schema.json``, read by the YAML language
server in VS Code, Neovim and others). The committed ``platform/platform.schema.json`` is checked
against this function by tests/unit/test_spec_schema.py. The schema covers the shape of the spec
(keys, types, enums, required fields); the rules that span fields and files (references, cycles,
sizes, cron expressions) are the loader's, so ``platform-ops validate`` stays the final word.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from platform_assets.spec.models import PlatformSpec

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "platform" / "platform.schema.json"
MODELINE = "# yaml-language-server: $schema="
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (draft 2020-12, as pydantic writes it), with a title."""
    schema = PlatformSpec.model_json_schema(mode="validation", by_alias=True)
    return {"$schema": DIALECT, "title": "platform-ops platform spec",
            "description": "The platform spec of platform-ops (apiVersion platform-ops/v1); "
                           "every field and default: docs/spec.md.",
            **{k: v for k, v in schema.items() if k != "title"}}


def render_schema() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(spec_schema(), indent=2, sort_keys=False) + "\n"

"""Render docs/spec.md from the models, so the defaults are documented in one place: the code."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from platform_assets.spec.models import PlatformSpec

_CHECKS = {"_dns_name": "dns-name", "_size": "size", "_duration": "duration", "_cidr": "CIDR",
           "_timezone": "IANA timezone", "_cron": "cron", "_time_of_day": "HH:MM"}
_VALIDATOR = re.compile(r", AfterValidator\(func=<function (\w+) at 0x[0-9a-f]+>\)\]")


def _type_name(annotation: Any, metadata: list[Any] | None = None) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = _VALIDATOR.sub(lambda m: f" ({_CHECKS.get(m.group(1), m.group(1))})", text)
    for meta in metadata or []:
        func = getattr(meta, "func", None)
        if func is not None and func.__name__ in _CHECKS:
            text += f" ({_CHECKS[func.__name__]})"
    for prefix in ("typing.", "platform_assets.spec.models.", "<class '", "'>"):
        text = text.replace(prefix, "")
    return text.replace("Annotated[", "").replace("NoneType", "None")


def _models(annotation: Any) -> list[type[BaseModel]]:
    out = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in typing.get_args(annotation):
        out += _models(arg)
    return out


def render_reference() -> str:
    """Markdown describing every section, field, type and default of the spec."""
    lines = [
        "# Platform spec reference",
        "",
        "Generated from `platform_assets/spec/models.py` by "
        "`python -m platform_assets.spec.reference > docs/spec.md`; do not edit by hand.",
        "Unknown keys are errors. Sizes: `20Gi`, `100GB`. Durations: `30s`, `15m`, `4h`, `1d`.",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    queue: list[tuple[str, type[BaseModel]]] = [("(top level)", PlatformSpec)]
    while queue:
        path, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        lines += [f"## `{path}` ({model.__name__})", "", "| field | type | default | notes |",
                  "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            if field.is_required():
                default = "**required**"
            elif field.default_factory is not None:
                default = f"`{field.default_factory()!r}`"  # type: ignore[call-arg]
            elif field.default is PydanticUndefined:
                default = ""
            else:
                d = field.default
                default = f"`{d.model_dump() if isinstance(d, BaseModel) else d!r}`"
            notes = (field.description or "").replace("|", "\\|")
            kind = _type_name(field.annotation, field.metadata)
            lines.append(f"| `{key}` | `{kind}` | {default} | {notes} |")
            for sub in _models(field.annotation):
                queue.append((f"{path}.{key}" if path != "(top level)" else key, sub))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_reference())

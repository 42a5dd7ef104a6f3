"""docs/spec.md is generated from the models and must be regenerated when they change."""

from __future__ import annotations

from pathlib import Path

from platform_assets.spec.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"


def test_docs_spec_is_up_to_date() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/spec.md is stale: run `python -m platform_assets.spec.reference > docs/spec.md`"
    )


def test_reference_documents_every_default() -> None:
    text = render_reference()
    assert "| `retention_days` | `int` | `30` |" in text
    assert "| `critical_days` | `int` | `7` |" in text
    assert "| `drift` | `Literal['enforce', 'warn', 'observe']` | `'enforce'` |" in text

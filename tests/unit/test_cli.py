"""The plan CLI without credentials: exit 1 naming what to set, no traceback, no network."""

from __future__ import annotations

import pytest

from platform_assets.__main__ import EXIT_ERROR, main


def test_plan_without_credentials_names_what_to_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "IONOS_TOKEN_FILE",
                 "IONOS_USERNAME_FILE", "IONOS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["plan"]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: IONOS credentials missing (none is set): set IONOS_TOKEN, or "
                          "IONOS_USERNAME and IONOS_PASSWORD")
    assert "(the plan reads the live state;" in err
    assert "Traceback" not in err


def test_plan_names_only_the_missing_credential(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IONOS_TOKEN", "t")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY_FILE", raising=False)
    assert main(["plan"]) == EXIT_ERROR
    assert capsys.readouterr().err.startswith("error: set AWS_SECRET_ACCESS_KEY too (")

"""The database resource the backup jobs get: the spec's user and password, and the restore
drill's own account when the environment names one (resources.backup_resources)."""

from __future__ import annotations

import pytest

from platform_assets.spec.loader import load_graph
from resources import backup_resources


def test_drill_account_comes_from_the_environment_only_when_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    graph = load_graph()
    values = {"MARIADB_PASSWORD": "pw", "MARIADB_DRILL_PASSWORD": "drill-pw"}
    monkeypatch.delenv("MARIADB_DRILL_USER", raising=False)
    plain = backup_resources(graph, values.__getitem__)["database"]
    assert plain.drill_user == "" and plain.drill_password == ""
    monkeypatch.setenv("MARIADB_DRILL_USER", "platform-ops-drill")
    db = backup_resources(graph, values.__getitem__)["database"]
    assert (db.drill_user, db.drill_password) == ("platform-ops-drill", "drill-pw")
    assert db.user == graph.spec.mariadb.username and db.password == "pw"
    assert "drill-pw" not in repr(db)

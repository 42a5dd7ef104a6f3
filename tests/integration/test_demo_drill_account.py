"""The demo's restore-drill account on the shared local MariaDB: one per sandbox instance."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from platform_assets.__main__ import _demo_drill_account
from platform_assets.names import demo_drill_user
from sandbox.app import probe_mariadb
from tests.conftest import missing_service

pytestmark = pytest.mark.integration


def sandbox_env(state_dir: Path) -> dict[str, str]:
    """The variables the sandbox's env file gives the demo (sandbox/app.py)."""
    return {"SANDBOX_MARIADB_HOST": "127.0.0.1", "SANDBOX_MARIADB_PORT": "3306",
            "SANDBOX_MARIADB_USER": "root", "SANDBOX_MARIADB_PASSWORD": "",
            "SANDBOX_STATE_DIR": str(state_dir)}


def login(user: str, password: str) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=3306, user=user, password=password,
                           autocommit=True)


def account_exists(user: str) -> bool:
    conn = login("root", "")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE user = %s", (user,))
            row = cur.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()


def test_two_demos_at_once_keep_their_own_drill_accounts(tmp_path: Path) -> None:
    """Two sandbox instances (two demos, or a demo and a test run) each create, use and drop
    their own account: neither resets the other's password, and each is still limited to the
    scratch databases ``drill\\_%`` (docs/security.md)."""
    if not probe_mariadb():
        missing_service("no MariaDB server on 127.0.0.1:3306: apt-get install mariadb-server")
    one, two = sandbox_env(tmp_path / "one"), sandbox_env(tmp_path / "two")
    with _demo_drill_account(one) as first:
        with _demo_drill_account(two) as second:
            assert first["MARIADB_DRILL_USER"] != second["MARIADB_DRILL_USER"]
            assert first["MARIADB_DRILL_USER"] == demo_drill_user(str(tmp_path / "one"))
        assert not account_exists(second["MARIADB_DRILL_USER"])  # dropped by its instance
        # The second instance started and ended; the first one's login still works.
        conn = login(first["MARIADB_DRILL_USER"], first["MARIADB_DRILL_PASSWORD"])
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE drill_demo_account_probe")
                cur.execute("DROP DATABASE drill_demo_account_probe")
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute("CREATE DATABASE demo_account_probe")
                cur.execute("SHOW GRANTS")
                grants = [row[0] for row in cur.fetchall()]
        finally:
            conn.close()
        assert len(grants) == 2 and "GRANT USAGE ON *.*" in grants[0]
        assert "ON `drill\\_%`.*" in grants[1]
    assert not account_exists(first["MARIADB_DRILL_USER"])


def test_without_a_mariadb_server_the_demo_has_no_drill_account() -> None:
    with _demo_drill_account({"SANDBOX_STATE_DIR": "/tmp/x"}) as drill:
        assert drill == {}

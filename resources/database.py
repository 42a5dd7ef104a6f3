"""DatabaseDumpResource: logical backups of a MariaDB server with the real client tools.

``mariadb-dump --single-transaction`` runs as a subprocess; its stdout is read in chunks and
handed on as an iterator (the backup engine compresses and encrypts it on the way to S3), so a
dump of any size streams without being held in memory or written to disk. The password goes to
the tools through the ``MYSQL_PWD`` environment variable of the child process, never on a command
line and never into logs. Restores (for drills) stream the other way into ``mariadb``. Table row
counts and ``CHECKSUM TABLE`` results come from pymysql. The tools' processes are
``resources.dump_tools``, imported by the first dump or restore.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from resources.config import DatabaseDumpConfig

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")


class DatabaseUnavailable(RuntimeError):
    """The server cannot be reached or refuses the credentials; the message says which."""


class DumpFailed(RuntimeError):
    """``mariadb-dump`` or ``mariadb`` exited non-zero; the message carries its stderr."""


def _check_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"database name {name!r} must be letters, digits, '_', '$' or '-'")
    return name


class DatabaseDumpResource(DatabaseDumpConfig):
    """A MariaDB server reached with the ``mariadb-dump`` and ``mariadb`` clients.

    ``host`` empty means: not configured here, the caller resolves the host (the backup asset
    asks the IONOS DBaaS API for the cluster's DNS name).
    """

    def open(self) -> DatabaseDumpResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    def _where(self, host: str | None) -> str:
        return f"{self.user}@{host or self.host}:{self.port}"

    def _binary(self, name: str) -> str:
        from resources.dump_tools import find_binary

        return find_binary(name, "install the MariaDB client tools")

    def _env(self, password: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["MYSQL_PWD"] = self.password if password is None else password
        return env

    def _args(self, host: str | None, client: bool = False,
              user: str | None = None) -> list[str]:
        h = host or self.host
        if not h:
            raise DatabaseUnavailable("no database host configured (MARIADB_HOST) and none given")
        args = ["--no-defaults", f"--host={h}", f"--port={self.port}",
                f"--user={user or self.user}", "--protocol=TCP"]
        if self.ssl_ca:
            args += ["--ssl", f"--ssl-ca={self.ssl_ca}", "--ssl-verify-server-cert"]
        # mariadb-dump has no connect timeout option; the backup asset connects with pymysql
        # (which has one) before it dumps, so an unreachable server fails fast there.
        return [*args, f"--connect-timeout={self.connect_timeout_seconds}"] if client else args

    def connect(self, host: str | None = None, database: str | None = None) -> Any:
        """A pymysql connection; connection and credential errors become ``DatabaseUnavailable``.
        """
        import pymysql

        h = host or self.host
        if not h:
            raise DatabaseUnavailable("no database host configured (MARIADB_HOST) and none given")
        tls: dict[str, Any] = ({"ssl_ca": self.ssl_ca, "ssl_verify_cert": True,
                                "ssl_verify_identity": True} if self.ssl_ca else {})
        try:
            return pymysql.connect(host=h, port=self.port, user=self.user,
                                   password=self.password, database=database,
                                   connect_timeout=self.connect_timeout_seconds, autocommit=True,
                                   **tls)
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            why = ("wrong credentials (access denied)" if code in (1044, 1045, 1698)
                   else "unknown database" if code == 1049
                   else f"TLS with {self.ssl_ca} failed" if code == 2026
                   else "server unreachable")
            raise DatabaseUnavailable(f"MariaDB {self._where(h)}: {why}: "
                                      f"{exc.args[1] if len(exc.args) > 1 else exc}") from None

    def tool_versions(self) -> dict[str, str]:
        """Versions of the client tools (for the manifest)."""
        from resources.dump_tools import tool_versions

        return tool_versions((self.dump_binary, self.client_binary), self._binary)

    def server_version(self, host: str | None = None) -> str:
        """The server's ``VERSION()``, recorded with each dump."""
        with self.connect(host) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return str(cur.fetchone()[0])

    def table_stats(self, database: str, host: str | None = None) -> dict[str, dict[str, Any]]:
        """``{table: {"rows": n, "checksum": c}}`` for every base table of ``database``."""
        db = _check_name(database)
        with self.connect(host, db) as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
                        "AND table_type='BASE TABLE' ORDER BY table_name", (db,))
            tables = [r[0] for r in cur.fetchall()]
            stats: dict[str, dict[str, Any]] = {}
            for t in tables:
                cur.execute(f"SELECT COUNT(*) FROM `{t.replace('`', '``')}`")
                rows = int(cur.fetchone()[0])
                cur.execute(f"CHECKSUM TABLE `{t.replace('`', '``')}`")
                checksum = cur.fetchone()[1]
                stats[t] = {"rows": rows, "checksum": None if checksum is None else int(checksum)}
            return stats

    def dump(self, database: str, host: str | None = None) -> Iterator[bytes]:
        """``mariadb-dump --single-transaction`` of one database, in chunks of SQL (the backup
        engine compresses and encrypts them, ``platform_assets.backups.streams``).

        The dump has no ``CREATE DATABASE``/``USE`` lines, so it restores into any database.
        The iterator raises ``DumpFailed`` at the end if the tool exited non-zero, so a
        consumer that uploads the chunks never completes an object from a failed dump.
        """
        from resources.dump_tools import stream_output

        db = _check_name(database)
        cmd = [self._binary(self.dump_binary), *self._args(host), "--single-transaction",
               "--quick", "--routines", "--triggers", "--events", "--hex-blob",
               "--skip-dump-date", db]
        return stream_output(cmd, self._env(), self.chunk_size,
                             f"mariadb-dump of {db} from {self._where(host)}")

    def restore(self, database: str, sql_chunks: Iterable[bytes],
                host: str | None = None) -> int:
        """Create ``database`` (fresh) and feed it a dump (SQL, as ``dump`` yields it, decoded
        by the caller); return the bytes fed.

        The dump is untrusted (it comes from a bucket): the client runs with ``--sandbox`` (a
        ``\\!`` shell escape, ``source``, ``tee`` and the other client commands that reach the
        file system are refused) and ``--local-infile=0``, as a user of its own that exists only
        for this restore and holds privileges on ``database`` alone, so a planted ``USE`` of
        another database, ``DROP DATABASE`` or ``GRANT`` is refused by the server.
        """
        from resources.dump_tools import RESTORE_WHY, feed_input

        db = _check_name(database)
        self._recreate(db, host)
        with self._scratch_user(db, host) as (user, password):
            cmd = [self._binary(self.client_binary),
                   *self._args(host, client=True, user=user), "--batch", "--sandbox",
                   "--local-infile=0", db]
            return feed_input(cmd, sql_chunks, self._env(password),
                              f"restore into {db} on {self._where(host)}", RESTORE_WHY)

    def _recreate(self, db: str, host: str | None) -> None:
        import pymysql

        with self.connect(host) as conn, conn.cursor() as cur:
            try:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
                cur.execute(f"CREATE DATABASE `{db}`")
            except pymysql.err.OperationalError as exc:
                raise DatabaseUnavailable(
                    f"MariaDB {self._where(host)}: cannot create the scratch database {db} "
                    f"({exc.args[-1]}); grant CREATE, DROP and ALL on `drill\\_%`.* to "
                    f"{self.user}") from None

    @contextmanager
    def _scratch_user(self, db: str, host: str | None) -> Iterator[tuple[str, str]]:
        """A user (named as the scratch database) with a random password and ALL on ``db``
        only, dropped afterwards; needs CREATE USER and GRANT OPTION on the dumping account."""
        import pymysql

        if self.drill_user:
            yield self.drill_user, self.drill_password
            return
        password = secrets.token_urlsafe(24)
        with self.connect(host) as conn, conn.cursor() as cur:
            try:
                cur.execute("CREATE OR REPLACE USER %s@'%%' IDENTIFIED BY %s", (db, password))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO %s@'%%'", (db,))
            except pymysql.err.MySQLError as exc:
                with suppress(pymysql.err.MySQLError):
                    cur.execute("DROP USER IF EXISTS %s@'%%'", (db,))
                raise DatabaseUnavailable(
                    f"MariaDB {self._where(host)}: cannot create the drill user {db} "
                    f"({exc.args[-1]}); the restore drill runs the dump as a user limited to "
                    f"its scratch database: grant CREATE USER, and ALL PRIVILEGES ON `drill\\_%`.* "
                    f"WITH GRANT OPTION, to {self.user} (or set drill_user to an account limited "
                    "to `drill\\_%`.*)") from None
        try:
            yield db, password
        finally:
            with self.connect(host) as conn, conn.cursor() as cur:
                cur.execute("DROP USER IF EXISTS %s@'%%'", (db,))

    def drop_database(self, database: str, host: str | None = None) -> None:
        """Drop a (scratch) database if it exists; the name is checked before it reaches SQL."""
        db = _check_name(database)
        with self.connect(host) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")

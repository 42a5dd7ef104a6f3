"""PostgresDumpResource: logical backups of the managed PostgreSQL clusters with the real
``pg_dump`` and ``pg_restore``.

``pg_dump --format=custom`` runs as a subprocess and its stdout is handed on in chunks (the
backup engine compresses and encrypts them on the way to S3), so a dump of any size streams.
The password reaches the tools through ``PGPASSWORD`` in the child's environment, never a
command line or a log. Table row counts and content checksums (md5 of every row's text, in
order) come from psycopg2.

Restores (restore drills) are of untrusted bytes from a bucket: they go through ``pg_restore``
(which executes an archive's SQL entries only; unlike ``psql`` it has no ``\\!`` shell escape or
other meta-commands), into a fresh scratch database owned by a scratch role that exists only for
that restore (LOGIN, no superuser, CREATEDB or CREATEROLE), with ``--no-owner
--no-privileges --exit-on-error --single-transaction``; the database and the role are dropped
after. PostgreSQL has no statement that leaves the connected database, so a planted statement
reaches the scratch database alone.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from resources.config import PostgresDumpConfig
from resources.database import DatabaseUnavailable

if TYPE_CHECKING:  # the Protocols' module is imported by a dump or drill, not when loading
    from platform_assets.core.ports import PgLogin

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_PG_WHY = (
    ("password authentication failed", "wrong credentials (password authentication failed)"),
    ("no pg_hba.conf entry", "refused by the server's pg_hba.conf"),
    ("connection refused", "server unreachable"),
    ("could not translate host name", "server unreachable"),
    ("timeout expired", "server unreachable"),
    ("does not exist", "unknown database or role"),
    ("permission denied", "refused: the dump reaches outside its scratch database"),
    ("must be owner", "refused: the dump reaches outside its scratch database"),
)


def _check_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"PostgreSQL name {name!r} must be 1-63 letters, digits or '_'")
    return name


class PostgresDumpResource(PostgresDumpConfig):
    """The managed PostgreSQL clusters, reached with ``pg_dump``, ``pg_restore`` and psycopg2.

    ``users`` and ``password_envs`` map a cluster's name to its admin user and to the name of
    the environment variable holding its password (read when a login is made, also as
    ``*_FILE``); ``host`` empty means: the caller resolves it (the cluster's ``dnsName``).
    """

    def open(self) -> PostgresDumpResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    def login(self, cluster: str, host: str) -> PgLogin:
        """The login of ``cluster`` at ``host`` (this resource's ``host`` wins when set).

        Raises:
            DatabaseUnavailable: the cluster has no user, or its password variable is unset.
        """
        from platform_assets.core.ports import PgLogin
        from resources.credentials import secret

        user, variable = self.users.get(cluster), self.password_envs.get(cluster)
        if not user or not variable:
            raise DatabaseUnavailable(f"PostgreSQL cluster {cluster}: no user and password "
                                      "variable configured (ionos.postgres in the spec)")
        password = secret(variable)
        if not password:
            raise DatabaseUnavailable(f"PostgreSQL cluster {cluster}: set {variable} to its "
                                      "admin password")
        return PgLogin(self.host or host, self.port, user, password)

    def _binary(self, name: str) -> str:
        from resources.dump_tools import find_binary

        return find_binary(name, "install the PostgreSQL client tools (Debian: "
                                 "postgresql-client)")

    def _env(self, login: PgLogin) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSWORD=login.password, PGSSLMODE=self.sslmode,
                   PGCONNECT_TIMEOUT=str(self.connect_timeout_seconds))
        if self.sslrootcert:
            env["PGSSLROOTCERT"] = self.sslrootcert
        return env

    @staticmethod
    def _args(login: PgLogin, database: str) -> list[str]:
        return [f"--host={login.host}", f"--port={login.port}", f"--username={login.user}",
                "--no-password", f"--dbname={database}"]

    def connect(self, login: PgLogin, database: str = "postgres") -> Any:
        """A psycopg2 connection (autocommit); failures become ``DatabaseUnavailable``."""
        import psycopg2

        try:
            conn = psycopg2.connect(
                host=login.host, port=login.port, user=login.user, password=login.password,
                dbname=database, connect_timeout=self.connect_timeout_seconds,
                sslmode=self.sslmode, **({"sslrootcert": self.sslrootcert}
                                         if self.sslrootcert else {}))
        except psycopg2.OperationalError as exc:
            text = str(exc).strip().splitlines()
            low = " ".join(text).lower()
            why = next((w for needle, w in _PG_WHY if needle in low), "cannot connect")
            raise DatabaseUnavailable(f"PostgreSQL {login.where()}/{database}: {why}: "
                                      f"{text[0] if text else exc}") from None
        conn.autocommit = True
        return conn

    def tool_versions(self) -> dict[str, str]:
        """Versions of ``pg_dump`` and ``pg_restore`` (for the manifest)."""
        from resources.dump_tools import tool_versions

        return tool_versions((self.pg_dump_binary, self.pg_restore_binary), self._binary)

    def server_version(self, login: PgLogin) -> str:
        """The server's ``server_version``, recorded with each dump."""
        conn = self.connect(login)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return str(cur.fetchone()[0])
        finally:
            conn.close()

    def table_stats(self, login: PgLogin, database: str) -> dict[str, dict[str, Any]]:
        """``{"schema.table": {"rows": n, "checksum": md5}}`` for every base table outside
        the system schemas; the checksum is the md5 of the rows' text in sorted order."""
        from psycopg2 import sql

        conn = self.connect(login, _check_name(database))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                            "('pg_catalog', 'information_schema') ORDER BY 1, 2")
                stats: dict[str, dict[str, Any]] = {}
                for schema, table in cur.fetchall():
                    cur.execute(sql.SQL(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY "
                        "t::text), '')) FROM {}.{} AS t").format(
                            sql.Identifier(schema), sql.Identifier(table)))
                    rows, checksum = cur.fetchone()
                    stats[f"{schema}.{table}"] = {"rows": int(rows), "checksum": str(checksum)}
                return stats
        finally:
            conn.close()

    def dump(self, login: PgLogin, database: str) -> Iterator[bytes]:
        """``pg_dump --format=custom`` of one database, in chunks; the iterator raises
        ``DumpFailed`` at its end when the tool exited non-zero, so an upload of the chunks
        never completes from a failed dump."""
        from resources.dump_tools import stream_output

        db = _check_name(database)
        cmd = [self._binary(self.pg_dump_binary), *self._args(login, db), "--format=custom",
               "--compress=0", "--no-sync"]
        return stream_output(cmd, self._env(login), self.chunk_size,
                             f"pg_dump of {db} from {login.where()}", _PG_WHY)

    def restore(self, login: PgLogin, scratch: str, archive: Iterable[bytes]) -> int:
        """Restore a ``dump`` archive into a fresh ``scratch`` database as a scratch role of the
        same name (see the module docstring); return the bytes fed. The caller drops it with
        ``drop_database``."""
        from platform_assets.core.ports import PgLogin
        from resources.dump_tools import feed_input

        db = _check_name(scratch)
        password = secrets.token_urlsafe(24)
        self._create_scratch(login, db, password)
        scratch_login = PgLogin(login.host, login.port, db, password)
        cmd = [self._binary(self.pg_restore_binary), *self._args(scratch_login, db),
               "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
        return feed_input(cmd, archive, self._env(scratch_login),
                          f"pg_restore into {db} on {login.where()}", _PG_WHY)

    def _create_scratch(self, login: PgLogin, db: str, password: str) -> None:
        import psycopg2
        from psycopg2 import sql

        self.drop_database(login, db)
        conn = self.connect(login)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                    "PASSWORD %s").format(sql.Identifier(db)), (password,))
                # The admin may create a database owned by a role it is a member of.
                cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(db)))
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(db), sql.Identifier(db)))
        except psycopg2.Error as exc:
            raise DatabaseUnavailable(
                f"PostgreSQL {login.where()}: cannot create the scratch role and database {db} "
                f"({str(exc).strip()}); the admin user needs CREATEROLE and CREATEDB") from None
        finally:
            conn.close()

    def drop_database(self, login: PgLogin, scratch: str) -> None:
        """Drop a scratch database (its sessions ended) and its role, if they exist."""
        from psycopg2 import sql

        db = _check_name(scratch)
        conn = self.connect(login)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db)))
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db)))
        finally:
            conn.close()


"""A small SQLite layer that knows nothing about music: one connection per thread, transactions, named
migrations applied once in order, and sqlite3 errors turned into messages a user can act on.

Modelled on beets' dbcore: the catalog and the clip cache each describe their tables as a list of
migrations and run their queries through a `Database`, which owns everything else.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.errors import NeedledropError

log = logging.getLogger(__name__)

BUSY_TIMEOUT = 30.0  # seconds a write waits for another writer before "database is locked"


class DatabaseError(NeedledropError):
    """A database file cannot be opened, read or written; the message says what to do about it."""


@dataclass(frozen=True)
class Migration:
    """One named step of a database's schema, applied once, in order, in its own transaction.

    `apply` is SQL (several statements allowed) or a function of the connection. A step that rebuilds a
    table other tables refer to sets `foreign_keys_off`: with foreign keys on, dropping the old table would
    cascade into the rows that refer to it (https://sqlite.org/lang_altertable.html#otheralter).
    """

    name: str
    apply: str | Callable[[sqlite3.Connection], None]
    foreign_keys_off: bool = False


def statements(script: str) -> list[str]:
    """The statements of an SQL script, split where SQLite itself says a statement is complete (so a
    trigger's body stays whole). `executescript` cannot be used inside a transaction: it commits first."""
    found, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement: {pending.strip()!r}")
    return found


class Database:
    """One SQLite file (WAL). Safe from many threads (each gets its own connection) and processes (writes
    are serialised by SQLite's lock, waiting up to `timeout` seconds)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        migrations: Sequence[Migration] = (),
        *,
        what: str = "database",
        error: type[DatabaseError] = DatabaseError,
        legacy_versions: int = 0,
        timeout: float = BUSY_TIMEOUT,
        precious: bool = True,
    ):
        """`what` names the file in messages ("library catalog"); `error` is the exception raised for it.
        `legacy_versions`: files written before the migrations table existed recorded their schema as
        `PRAGMA user_version` = n, meaning the first n of `migrations` had been applied.
        `precious`: the file holds the user's work, so an empty (truncated) one is refused rather than
        started over; a cache is not precious."""
        self.path = Path(path)
        self.migrations = tuple(migrations)
        self.what = what
        self.error = error
        self.legacy_versions = legacy_versions
        self.timeout = timeout
        self._local = threading.local()
        try:
            if not precious:
                self._start_over_if_empty()
            self._create_if_missing()
            self.migrate()
        except OSError as exc:
            raise self.error(
                f"cannot open the {what} {self.path}: {exc.strerror or exc}. "
                "Check that its folder exists and is writable."
            ) from exc
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc

    # ---- connections and transactions ----

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self._refuse_empty_file()
            try:
                # Autocommit mode: transactions are opened explicitly by `transaction()` and `snapshot()`.
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, safe against corruption
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise self._error(exc, "opening") from exc
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def close(self) -> None:
        """Close this thread's connection (another is opened if the thread uses the database again)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested ones join the outermost, which commits or rolls back everything."""
        with self._transaction("BEGIN IMMEDIATE", "writing", writes=True) as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the file, whatever other writers do."""
        with self._transaction("BEGIN DEFERRED", "reading", writes=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, doing: str, *, writes: bool) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if self._local.depth:
            if writes and not self._local.writes:
                # Upgrading a read snapshot fails whenever another process wrote since it began.
                raise RuntimeError("a write transaction cannot be opened inside a read snapshot")
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        try:
            conn.execute(begin)
            self._local.depth, self._local.writes = 1, writes
            try:
                yield conn
            finally:
                self._local.depth = 0
            conn.execute("COMMIT")
        except BaseException as exc:
            self._roll_back(conn)
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, doing) from exc
            raise

    @staticmethod
    def _roll_back(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite has already rolled back (e.g. after SQLITE_FULL)
                log.debug("rollback after a failed statement failed", exc_info=True)

    def query(self, sql: str, args: Sequence = ()) -> list[tuple]:
        """All rows of one read (inside the current transaction, if any)."""
        try:
            return self.connection().execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc

    # ---- migrations ----

    def migrate(self) -> None:
        """Apply the migrations this file has not had yet, each once, in order."""
        with self.transaction() as conn:
            applied = self._applied(conn)
        for number, migration in enumerate(self.migrations, 1):
            if migration.name not in applied:
                self._apply(migration, number)

    def _applied(self, conn: sqlite3.Connection) -> set[str]:
        conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        applied = {name for (name,) in conn.execute("SELECT name FROM migrations")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not applied and version:
            if version > self.legacy_versions:
                raise self._newer(f"schema {version}")
            # Written before this table existed: user_version counted the migrations applied.
            for migration in self.migrations[:version]:
                conn.execute("INSERT INTO migrations VALUES (?, ?)", (migration.name, time.time()))
                applied.add(migration.name)
        unknown = applied - {m.name for m in self.migrations}
        if unknown:
            raise self._newer(f"changes {', '.join(sorted(unknown))}")
        return applied

    def _apply(self, migration: Migration, number: int) -> None:
        conn = self.connection()
        if migration.foreign_keys_off:
            conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before it begins
        try:
            with self.transaction():
                # Another process may have applied it while this one waited for the write lock.
                if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (migration.name,)).fetchone():
                    return
                log.info("%s %s: applying migration %s", self.what, self.path, migration.name)
                if callable(migration.apply):
                    migration.apply(conn)
                else:
                    for statement in statements(migration.apply):
                        conn.execute(statement)
                if migration.foreign_keys_off and conn.execute("PRAGMA foreign_key_check").fetchone():
                    raise self.error(
                        f"migration {migration.name} of the {self.what} {self.path} would break references "
                        "between its tables; it was undone"
                    )
                conn.execute("INSERT INTO migrations VALUES (?, ?)", (migration.name, time.time()))
                # Older Needledrops read this number and refuse a file newer than they know.
                conn.execute(f"PRAGMA user_version = {number}")
        finally:
            if migration.foreign_keys_off:
                conn.execute("PRAGMA foreign_keys=ON")

    def _newer(self, what: str) -> DatabaseError:
        return self.error(
            f"the {self.what} {self.path} was written by a newer Needledrop ({what} unknown to this one): "
            "upgrade Needledrop, or use another data folder (--data-dir)"
        )

    # ---- the file itself ----

    def _create_if_missing(self) -> None:
        """Create a new file whole: written under a temporary name, then linked into place, so that a file
        of 0 bytes can only mean a damaged one (see `_refuse_empty_file`), never one being created."""
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".new")
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header: the file is a database from now on
            conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:  # another process created it first: use theirs
                pass
            except OSError:  # a file system without hard links (FAT, some network shares)
                if not self.path.exists():
                    os.replace(tmp, self.path)
        except sqlite3.Error as exc:
            raise self._error(exc, "creating") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _start_over_if_empty(self) -> None:
        if self.path.exists() and self.path.stat().st_size == 0:
            log.warning("the %s %s was empty (cut short): starting a new one", self.what, self.path)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _refuse_empty_file(self) -> None:
        try:
            empty = self.path.stat().st_size == 0
        except FileNotFoundError:
            return
        if empty:
            raise self.error(
                f"the {self.what} {self.path} is empty (0 bytes): it was cut short, by a full disk or a crash "
                "while it was copied. Needledrop will not start over in its place. Restore it from a backup, or "
                "move it away to start a new one."
            )

    def _error(self, exc: sqlite3.Error, doing: str) -> DatabaseError:
        """The sqlite3 error as a message that says what happened to which file and what to do."""
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        where = f"the {self.what} {self.path}"
        if code == sqlite3.SQLITE_FULL:
            text = f"the disk holding {where} is full: free some space and try again (the change was undone)"
        elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            text = (
                f"{where} is locked by another program (waited {self.timeout:.0f} s): close other Needledrop "
                "windows or scans using it, then try again"
            )
        elif code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            text = f"{where} is damaged ({exc}): restore it from a backup, or move it away to start a new one"
        elif code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR):
            text = f"cannot use {where} ({exc}): check that its folder exists, is writable and has free space"
        else:
            text = f"{doing} {where} failed: {exc}"
        return self.error(text)

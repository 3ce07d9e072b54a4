"""The response cache in PostgreSQL (`cache.url=postgresql+psycopg://user@host:port/db`), shared by a cluster.

Same table, columns and keys as the SQLite cache (afx.cache.COLUMNS): a rerun anywhere against the same database
is a pure replay. Every `put` is one autocommitted `INSERT ... ON CONFLICT (key) DO NOTHING`: it has returned only
once the row is committed (stored before counted), and when several processes on several nodes store the same
request the first answer wins; the others keep theirs out and read the winner's on the next lookup.

The engine, URL parsing, table creation and `afx cache-merge` go through SQLAlchemy; lookups and puts, the hot
path of a resume, run on the DBAPI connection of the SQLAlchemy connection (a prepared statement, about 2.5x
faster per lookup than a SQLAlchemy `text()` execute on loopback). Drivers: psycopg (3; `pip install
'afx[postgres]'`) or psycopg2. Passwords: prefer PGPASSWORD or ~/.pgpass (libpq reads both) over the URL;
a password in the URL is redacted wherever afx writes the URL (afx.redact).

Durability: sessions run with `synchronous_commit=off`, the counterpart of the SQLite cache's WAL with
`synchronous=NORMAL`: a committed row is visible to every process at once, and only a crash of the database
server itself (not of an afx process) can lose the last fraction of a second of commits, which a rerun samples
again. With it on, each put waited for a disk flush (about 2 ms here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from afx.backends.base import Generation
from afx.cache import COLUMNS, row_values
from afx.errors import AfxError, one_line

DRIVERS = ("psycopg", "psycopg2")
TABLE = "responses"
DDL_LOCK = 0x61667863  # advisory lock id: processes creating the table at once would race in the catalog
PG_TYPES = {"TEXT": "TEXT", "INTEGER": "INTEGER", "REAL": "DOUBLE PRECISION"}
INSTALL_HINT = "pip install 'afx[postgres]' (psycopg 3) and use postgresql+psycopg://..."


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def redacted(url: str) -> str:
    """The URL with its password hidden (for messages and reports)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL has its own error; show it without the userinfo
        head, _, rest = str(url).partition("://")
        return f"{head}://***@{rest.rpartition('@')[2]}" if "@" in rest else str(url)


def create_table_sql() -> str:
    cols = ", ".join(
        f"{name} {PG_TYPES[kind]} {'PRIMARY KEY' if name == 'key' else 'NOT NULL'}" for name, kind in COLUMNS
    )
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})"


def engine(url: str, timeout_s: float = 10.0, label: str = "cache.url") -> Any:
    """A SQLAlchemy engine for a PostgreSQL cache URL; AfxError (one line) for a bad URL or a missing driver."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's ArgumentError and friends
        raise AfxError(f"{label} {redacted(url)} is not a database URL ({one_line(str(exc))})") from None
    if parsed.get_backend_name() != "postgresql":
        raise AfxError(f"{label} {redacted(url)}: the response cache takes postgresql+psycopg://... or sqlite:///...")
    driver = parsed.get_driver_name()
    try:
        eng = sa.create_engine(parsed, poolclass=NullPool, connect_args={"connect_timeout": max(2, round(timeout_s))})
    except ImportError as exc:
        raise AfxError(
            f"{label} {redacted(url)} needs the PostgreSQL driver '{driver}', which is not installed "
            f"({one_line(str(exc))}): {INSTALL_HINT}"
        ) from None
    if eng.dialect.driver not in DRIVERS:
        raise AfxError(f"{label} {redacted(url)}: driver '{driver}' is not supported (use psycopg or psycopg2)")
    return eng


def _why(exc: BaseException) -> str:
    """The driver's first line: 'connection refused', 'database "x" does not exist', ..."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def connect(
    url: str, timeout_s: float = 10.0, label: str = "cache.url", autocommit: bool = True, create: bool = True
) -> Any:
    """An open SQLAlchemy connection with the table in place (`create`; else it must exist); AfxError (one line)
    when the server cannot be reached. `autocommit=False` for callers that group writes in transactions."""
    import sqlalchemy as sa

    eng = engine(url, timeout_s, label)
    try:
        conn = eng.connect()
    except sa.exc.DBAPIError as exc:
        eng.dispose()
        raise AfxError(
            f"cannot reach the response cache {label}={redacted(url)} ({_why(exc)}); check the URL and that "
            "PostgreSQL runs, or unset cache.url to use the local SQLite file"
        ) from None
    try:
        with conn.begin():
            if create:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": DDL_LOCK})
                conn.execute(sa.text(create_table_sql()))
            elif conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": TABLE}).scalar() is None:
                raise AfxError(f"{redacted(url)} has no afx response table ({TABLE})")
            conn.execute(sa.text("SET synchronous_commit TO off"))  # as SQLite's synchronous=NORMAL: see above
    except sa.exc.DBAPIError as exc:
        conn.close()
        eng.dispose()
        raise AfxError(f"response cache {redacted(url)}: cannot create table {TABLE} ({_why(exc)})") from None
    except AfxError:
        conn.close()
        eng.dispose()
        raise
    return conn.execution_options(isolation_level="AUTOCOMMIT") if autocommit else conn


def preflight(cfg: Any) -> None:
    """Before any job: a PostgreSQL `cache.url` has its driver installed and answers (one line, else AfxError).

    Runs once per distinct URL; the reach check follows `preflight.reach` / `preflight.timeout_s`."""
    from omegaconf import OmegaConf

    url = OmegaConf.select(cfg, "cache.url", default=None)
    if not OmegaConf.select(cfg, "cache.enabled", default=True) or not url:
        return
    url = str(url)
    if not is_postgres(url):
        if not url.startswith("sqlite:///"):
            raise AfxError(f"cache.url {redacted(url)}: use postgresql+psycopg://user@host:port/db or sqlite:///path")
        return
    reach = bool(OmegaConf.select(cfg, "preflight.reach", default=True))
    _preflight_once(url, reach, float(OmegaConf.select(cfg, "preflight.timeout_s", default=3.0)))


_CHECKED: set[tuple[str, bool]] = set()


def _preflight_once(url: str, reach: bool, timeout_s: float) -> None:
    if (url, reach) in _CHECKED:
        return
    if reach:
        conn = connect(url, timeout_s)
        conn.close()
        conn.engine.dispose()
    else:
        engine(url, timeout_s).dispose()  # the driver at least
    _CHECKED.add((url, reach))


class PgResponseCache:
    """The response cache's interface (get, put, len, fold, close) on a PostgreSQL table; thread-safe."""

    shard = False  # every process writes to the server directly: no write shards

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.where = redacted(url)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._closed = False
        self._conn = connect(url, timeout_s)

    @property
    def _raw(self) -> Any:
        return self._conn.connection.dbapi_connection

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import sqlalchemy as sa

        try:
            yield
        except (sa.exc.DBAPIError, *self._dbapi_errors()) as exc:
            orig = getattr(exc, "orig", None) or exc
            hint = (
                "rerun the same command once PostgreSQL answers"
                if isinstance(orig, self._conn.dialect.loaded_dbapi.OperationalError)
                else "this response cannot be stored in PostgreSQL (use the SQLite cache for this model)"
            )
            raise AfxError(
                f"response cache {self.where}: {what} failed ({_why(exc)}); every response stored so far is kept: "
                + hint
            ) from exc

    def _dbapi_errors(self) -> tuple[type[BaseException], ...]:
        return (self._conn.dialect.loaded_dbapi.Error,)

    def _execute(self, what: str, sql: str, params: tuple[Any, ...]) -> Any:
        """One statement on the raw connection; a connection the server dropped is replaced once, then it fails."""
        with self._lock, self._errors(what):
            for attempt in (0, 1):
                cur = self._raw.cursor()
                try:
                    cur.execute(sql, params)
                    return cur.fetchone() if cur.description else None
                except self._conn.dialect.loaded_dbapi.OperationalError:
                    if attempt or not self._raw.closed:
                        raise
                    self._conn.invalidate()
                    self._conn.close()
                    self._conn = connect(self.url, self.timeout_s)
                finally:
                    cur.close()
        return None

    def get(self, key: str) -> Generation | None:
        row = self._execute(
            "a lookup",
            f"SELECT text, finish_reason, prompt_tokens, completion_tokens FROM {TABLE} WHERE key = %s",
            (key,),
        )
        return None if row is None else Generation(*row)

    def put(self, key: str, backend: str, generation: Generation) -> None:
        """Store a response (committed when this returns); an existing entry (another writer was first) is kept."""
        names = ", ".join(name for name, _ in COLUMNS)
        marks = ", ".join(["%s"] * len(COLUMNS))
        self._execute(
            "storing a response",
            f"INSERT INTO {TABLE} ({names}) VALUES ({marks}) ON CONFLICT (key) DO NOTHING",
            row_values(key, backend, generation),
        )

    def __len__(self) -> int:
        row = self._execute("counting entries", f"SELECT COUNT(*) FROM {TABLE}", ())
        return int(row[0])

    def fold(self) -> int:
        """Nothing to fold: there are no write shards."""
        return 0

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._conn.close()
            self._conn.engine.dispose()
            self._closed = True


def store_rows(conn: Any, rows: list[Mapping[str, Any]]) -> set[str]:
    """Insert rows (dicts by column) with ON CONFLICT DO NOTHING in the caller's transaction; the keys added."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import insert

    if not rows:
        return set()
    table = sa.table(TABLE, *(sa.column(name) for name, _ in COLUMNS))
    stmt = insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    return {row[0] for row in conn.execute(stmt, list(rows))}

"""The history index: ``<results>/history.sqlite`` (stdlib sqlite3), a cache of the run directories.

The run directories are the truth; the index can always be rebuilt from them. ``open_history``
indexes every run directory that is new or changed since it was indexed (lazily: a run that was
still going, or killed, is re-read once its files change), and when the file is missing or SQLite
says it is not a database, it rebuilds it from scratch and says so in ``HistoryStore.notes``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from faultdrill.history.rows import WINDOW_FIGURES, RunRow, fingerprint, is_run_dir, read_run

INDEX_NAME = "history.sqlite"
SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, path TEXT, scenario TEXT, scenario_sha TEXT, git_sha TEXT, started TEXT,
    status TEXT, note TEXT, duration_s REAL, fingerprint TEXT);
CREATE TABLE IF NOT EXISTS checks (
    run_id TEXT, name TEXT, metric TEXT, window_name TEXT, value REAL, outcome TEXT);
CREATE TABLE IF NOT EXISTS windows (
    run_id TEXT, window_name TEXT, {", ".join(f"{k} REAL" for k in WINDOW_FIGURES)});
CREATE TABLE IF NOT EXISTS detection (
    run_id TEXT, fault TEXT, check_name TEXT, time_to_detect_s REAL, time_to_recover_s REAL, note TEXT);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, started);
"""


@dataclass
class HistoryStore:
    """An open index. ``notes``: what happened on the way (rebuilt, runs indexed) for the user."""

    conn: sqlite3.Connection
    path: Path
    notes: list[str] = field(default_factory=list)

    def put(self, row: RunRow) -> None:
        c = self.conn
        for table in ("runs", "checks", "windows", "detection"):
            c.execute(f"DELETE FROM {table} WHERE run_id = ?", (row.run_id,))
        c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
                  (row.run_id, row.path, row.scenario, row.scenario_sha, row.git_sha, row.started, row.status,
                   row.note, row.duration_s, row.fingerprint))
        c.executemany("INSERT INTO checks VALUES (?,?,?,?,?,?)",
                      [(row.run_id, k.name, k.metric, k.window, k.value, k.outcome) for k in row.checks])
        c.executemany(f"INSERT INTO windows VALUES ({','.join('?' * (2 + len(WINDOW_FIGURES)))})",
                      [(row.run_id, w.window, *(w.figures.get(k) for k in WINDOW_FIGURES)) for w in row.windows])
        c.executemany("INSERT INTO detection VALUES (?,?,?,?,?,?)",
                      [(row.run_id, d.fault, d.check, d.time_to_detect_s, d.time_to_recover_s, d.note)
                       for d in row.detection])
        c.commit()

    def fingerprints(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT run_id, fingerprint FROM runs"))

    def sync(self, results: Path) -> int:
        """Index every run directory under ``results`` that is new or changed; drop vanished ones."""
        known = self.fingerprints()
        seen = set()
        count = 0
        for path in sorted(p for p in results.iterdir() if is_run_dir(p)):
            seen.add(path.name)
            if known.get(path.name) != fingerprint(path):
                self.put(read_run(path))
                count += 1
        for gone in set(known) - seen:
            for table in ("runs", "checks", "windows", "detection"):
                self.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (gone,))
        self.conn.commit()
        return count

    def runs(self, scenario: str | None = None) -> list[sqlite3.Row]:
        """Runs oldest first (by start time, then id)."""
        sql = "SELECT * FROM runs" + (" WHERE scenario = ?" if scenario else "") + " ORDER BY started, run_id"
        return list(self.conn.execute(sql, (scenario,) if scenario else ()))

    def scenarios(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT scenario FROM runs ORDER BY scenario")]

    def check_values(self, run_id: str) -> dict[str, tuple[float | None, str]]:
        return {r["name"]: (r["value"], r["outcome"])
                for r in self.conn.execute("SELECT name, value, outcome FROM checks WHERE run_id = ?", (run_id,))}

    def window_value(self, run_id: str, window: str, metric: str) -> float | None:
        if metric not in WINDOW_FIGURES:
            raise ValueError(metric)
        row = self.conn.execute(f"SELECT {metric} FROM windows WHERE run_id = ? AND window_name = ?",
                                (run_id, window)).fetchone()
        return None if row is None else row[0]

    def detection(self, run_id: str) -> list[sqlite3.Row]:
        return list(self.conn.execute("SELECT * FROM detection WHERE run_id = ?", (run_id,)))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    check = conn.execute("PRAGMA quick_check").fetchone()  # a damaged page is found now, not mid-query
    if check is None or check[0] != "ok":
        raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else 'no answer'}")
    conn.executescript(_SCHEMA)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if version is None:
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.commit()
    elif version[0] != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"index schema {version[0]}, this faultdrill writes {SCHEMA_VERSION}")
    return conn


@contextmanager
def open_history(results: Path, *, sync: bool = True) -> Iterator[HistoryStore]:
    """Open (creating or rebuilding as needed) ``results/history.sqlite`` and bring it up to date."""
    path = results / INDEX_NAME
    notes: list[str] = []
    existed = path.exists()
    try:
        conn = _connect(path)
        store = HistoryStore(conn, path, notes)
        if sync:
            store.sync(results)
    except sqlite3.DatabaseError as exc:
        try:
            conn.close()
        except Exception:
            pass
        notes.append(f"the history index {path} was unreadable ({exc}): rebuilt it from the run directories")
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        conn = _connect(path)
        store = HistoryStore(conn, path, notes)
        if sync:
            store.sync(results)
    else:
        if not existed and sync and store.fingerprints():
            notes.append(f"no history index in {results}: built {path} from the run directories")
    try:
        yield store
    finally:
        store.conn.close()


def index_run(results: Path, run_dir: Path) -> str | None:
    """Index one finished run (end of ``faultdrill run``). Returns a problem line instead of raising:
    a run never fails because its history could not be written — ``faultdrill history`` indexes it
    later from its files."""
    try:
        with open_history(results, sync=False) as store:
            store.put(read_run(run_dir))
    except Exception as exc:
        return (f"the run could not be added to the history index {results / INDEX_NAME} ({type(exc).__name__}: "
                f"{exc}); `faultdrill history --results {results}` will index it from its files")
    return None

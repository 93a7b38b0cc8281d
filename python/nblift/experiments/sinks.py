"""Where buffered metric points go: straight into the embedded SQLite store's tables (one transaction per
batch: hundreds of thousands of points a second), or through MLflow's `log_batch` to a tracking server.

The SQLite sink writes MLflow's own tables exactly as MLflow does (a `metrics` row per point, `latest_metrics`
kept at the greatest (step, timestamp, value)), and only for the schema versions it knows; any other version
gets the client sink, which is slower and always right.
"""

# ruff: noqa: S608 - the statements are built from constant fragments; every value is a bound parameter
from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

#: MLflow schema versions (alembic revisions) whose metric tables the SQLite sink writes.
KNOWN_SCHEMAS = frozenset({"dc11669786a5"})
BUSY_TIMEOUT_MS = 30_000
CLIENT_BATCH = 1000  # MLflow's limit of metrics per log_batch call

#: (key, value, timestamp in ms, step)
Point = tuple[str, float, int, int]


class Sink(Protocol):
    def write(self, run_id: str, points: Sequence[Point]) -> None: ...


def _stored(value: float) -> tuple[float, int]:
    """MLflow stores NaN as 0 with is_nan set, and infinities as the largest finite floats."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (sys.float_info.max if value > 0 else -sys.float_info.max), 0
    return value, 0


_POINTS = (
    "SELECT json_extract(value, '$[0]') AS key, json_extract(value, '$[1]') AS value, "
    "json_extract(value, '$[2]') AS ts, json_extract(value, '$[3]') AS step FROM json_each(?2)"
)
_INSERT_JSON = (
    "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
    f"SELECT key, value, ts, ?1, step, 0 FROM ({_POINTS})"
)
# MLflow keeps, per key, the point with the greatest (step, timestamp, value).
_UPSERT = (
    "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, "
    "step = excluded.step, is_nan = excluded.is_nan "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)
_LATEST_JSON = (
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "SELECT key, value, ts, step, 0, ?1 FROM ("
    "SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY step DESC, ts DESC, value DESC) AS n "
    f"FROM ({_POINTS})"
    f") WHERE n = 1 {_UPSERT}"
)
_INSERT_ONE = (
    "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)"
)
_LATEST_ONE = (
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?) "
    + _UPSERT
)


class SQLiteSink:
    def __init__(self, db: Path) -> None:
        self.db = db
        self._conn: sqlite3.Connection | None = None

    @staticmethod
    def usable(db: Path) -> bool:
        try:
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return False
        return row is not None and row[0] in KNOWN_SCHEMAS

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.db, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return self._conn

    def write(self, run_id: str, points: Sequence[Point]) -> None:
        finite = [p for p in points if math.isfinite(p[1])]
        odd = [p for p in points if not math.isfinite(p[1])]
        # The batch travels as one JSON text and SQLite unpacks it: the interpreter lock is free while the
        # rows are written, so the user's loop keeps running at full speed.
        batch = json.dumps(finite)
        conn = self._connection()
        with conn:  # one transaction: every point of the batch, or none
            if finite:
                conn.execute(_INSERT_JSON, [run_id, batch])
                conn.execute(_LATEST_JSON, [run_id, batch])
            for key, value, timestamp, step in odd:
                stored, is_nan = _stored(value)
                conn.execute(_INSERT_ONE, [key, stored, timestamp, run_id, step, is_nan])
                conn.execute(_LATEST_ONE, [key, stored, timestamp, step, is_nan, run_id])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ClientSink:
    def __init__(self, client: Any) -> None:
        self.client = client

    def write(self, run_id: str, points: Sequence[Point]) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in points]
        for start in range(0, len(metrics), CLIENT_BATCH):
            self.client.log_batch(run_id, metrics=metrics[start : start + CLIENT_BATCH])

    def close(self) -> None:
        pass

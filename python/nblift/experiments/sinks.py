"""Where buffered metric points go: straight into the embedded SQLite store's tables (one transaction per
batch: hundreds of thousands of points a second), or through MLflow's `log_batch` to a tracking server.

The SQLite sink writes MLflow's own tables exactly as MLflow does (a `metrics` row per point, `latest_metrics`
kept at the greatest (step, timestamp, value)), and only for the schema versions it knows; any other version
gets the client sink, which is slower and always right.
"""

from __future__ import annotations

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
        rows = []
        latest: dict[str, tuple[int, int, float, int]] = {}
        for key, value, timestamp, step in points:
            stored, is_nan = _stored(value)
            rows.append((key, stored, timestamp, run_id, step, is_nan))
            candidate = (step, timestamp, stored, is_nan)
            if key not in latest or candidate[:3] > latest[key][:3]:
                latest[key] = candidate
        conn = self._connection()
        with conn:  # one transaction: every point of the batch, or none
            conn.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET "
                "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
                "is_nan = excluded.is_nan "
                "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
                "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                [(key, v, t, s, nan, run_id) for key, (s, t, v, nan) in latest.items()],
            )

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

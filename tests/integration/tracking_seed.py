"""Many MLflow runs fast: rows written in MLflow's own schema (as its store writes them) in one transaction,
for search and benchmark tests that need 10,000 to 100,000 runs. The tests read them back through MLflow's
client too, so a schema mismatch would show."""

from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

LRS = ("0.1", "0.01", "0.001")


def seed_runs(
    db: Path, experiment_id: str, count: int, *, seed: int = 0, start_ms: int = 1_700_000_000_000
) -> list[str]:
    rng = random.Random(seed)
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count)]
    runs, params, metrics, latest, tags = [], [], [], [], []
    for n, run_id in enumerate(ids):
        start = start_ms + n * 1000
        status = "FINISHED" if n % 10 else "FAILED"
        runs.append(
            (
                run_id,
                f"run-{n}",
                "LOCAL",
                "",
                "",
                "seed",
                status,
                start,
                start + 500,
                "",
                "active",
                "",
                int(experiment_id),
            )
        )
        params += [(f"{LRS[n % 3]}", "lr", run_id), (str(n % 7), "depth", run_id)]
        loss = rng.random()
        for step in range(3):
            metrics.append(("loss", loss + (2 - step), start + step, run_id, step, 0))
        latest.append(("loss", loss, start + 2, 2, 0, run_id))
        latest.append(("accuracy", 1 - loss, start + 2, 0, 0, run_id))
        metrics.append(("accuracy", 1 - loss, start + 2, run_id, 0, 0))
        tags.append(("nblift.kind", "track" if n % 2 else "run", run_id))
    conn = sqlite3.connect(db, timeout=30)
    with conn:
        conn.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        conn.executemany("INSERT INTO params (value, key, run_uuid) VALUES (?,?,?)", params)
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
            metrics,
        )
        conn.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
            latest,
        )
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    conn.close()
    return ids

# ruff: noqa: S608 - the SQL here is assembled from fixed fragments and allow-listed operators and table
# names; every value a user gives is a bound parameter.
"""Experiments and runs for the panel and `%lift experiments`: search with MLflow's filter syntax, sorting,
pagination, one run's detail, and a comparison of several.

On the embedded store the queries go straight to SQLite (read-only, indexed, one page of runs at a time),
because MLflow's own search loads every matching run's params, metrics and tags before it pages: seconds at
a few thousand runs. Against a tracking server the same calls go through MLflow's client.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import tracking
from ..errors import InvalidInput, NotFound
from ..project import Project

#: Tags a run row carries (the rest are in the run's detail).
ROW_TAGS = (
    "nblift.kind",
    "nblift.run_id",
    "nblift.snapshot",
    "nblift.snapshot_id",
    "nblift.state",
    "mlflow.source.name",
    "mlflow.source.git.commit",
    "mlflow.note.content",
)
MAX_PAGE = 500
MAX_COMPARE = 10
MAX_POINTS = 2000  # per metric series in a comparison (evenly thinned above this)
_ATTRIBUTES = {
    "run_name": "r.name",
    "status": "r.status",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "run_id": "r.run_uuid",
    "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri",
    "created": "r.start_time",
}
_STRING_OPS = {"=": "=", "!=": "!=", "LIKE": "LIKE", "ILIKE": "LIKE"}
_NUMBER_OPS = {"=", "!=", "<", "<=", ">", ">="}


def _db(project: Project) -> Path | None:
    """The embedded database, when this project uses it (and it exists)."""
    target = tracking.target_for(project)
    db = project.state_dir / tracking.DB_FILE
    return db if target.embedded and db.is_file() else None


@contextlib.contextmanager
def _read(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=tracking.BUSY_TIMEOUT_S)
    try:
        yield conn
    finally:
        conn.close()


# -- experiments -----------------------------------------------------------------------------------------


def list_experiments(project: Project) -> dict[str, Any]:
    db = _db(project)
    uri = tracking.target_for(project).display_uri
    if db is None and tracking.target_for(project).embedded:
        return {"tracking_uri": uri, "experiments": []}
    if db is not None:
        with _read(db) as conn:
            try:
                rows = conn.execute(
                    "SELECT e.experiment_id, e.name, COUNT(r.run_uuid), "
                    "MAX(COALESCE(r.end_time, r.start_time)) "
                    "FROM experiments e LEFT JOIN runs r "
                    "ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active' "
                    "WHERE e.lifecycle_stage = 'active' GROUP BY e.experiment_id ORDER BY e.name"
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                rows = []  # another process is creating the store's tables right now: nothing in it yet
        experiments = [{"id": str(i), "name": n, "runs": c, "last_update": t} for i, n, c, t in rows]
    else:
        client = tracking.client(project)
        experiments = [
            {"id": str(e.experiment_id), "name": e.name, "runs": None, "last_update": e.last_update_time}
            for e in client.search_experiments()
        ]
    return {"tracking_uri": uri, "experiments": experiments}


# -- filters and ordering -> SQL ---------------------------------------------------------------------------


def _parse(
    filter_string: str, order_by: str | None
) -> tuple[list[dict[str, Any]], tuple[str, str, bool] | None]:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchUtils

    try:
        clauses = SearchUtils.parse_search_filter(filter_string) if filter_string.strip() else []
        order = SearchUtils.parse_order_by_for_search_runs(order_by) if order_by else None
    except MlflowException as exc:
        raise InvalidInput(
            f"cannot read the search: {exc.message}",
            hint="MLflow's syntax, e.g. metrics.loss < 0.5 and params.lr = '0.1'; order by metrics.loss DESC",
        ) from None
    return clauses, order


def _clause(c: dict[str, Any]) -> tuple[str, list[Any]]:
    kind, key, op, value = c["type"], c["key"], c["comparator"].upper(), c["value"]
    if kind == "metric":
        if op not in _NUMBER_OPS:
            raise InvalidInput(f"metrics cannot be compared with {op}", hint="use = != < <= > >=")
        return (
            "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ? "
            f"AND m.value {op} ?)",
            [key, float(value)],
        )
    if kind in ("parameter", "tag"):
        table = "params" if kind == "parameter" else "tags"
        if op not in _STRING_OPS:
            raise InvalidInput(f"{table} cannot be compared with {op}", hint="use = != LIKE ILIKE")
        column = "LOWER(x.value)" if op == "ILIKE" else "x.value"
        bound = value.lower() if op == "ILIKE" else value
        return (
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid AND x.key = ? "
            f"AND {column} {_STRING_OPS[op]} ?)",
            [key, bound],
        )
    if kind == "attribute" and key in _ATTRIBUTES:
        column = _ATTRIBUTES[key]
        if op == "IN" or op == "NOT IN":
            values = list(value)
            marks = ",".join("?" * len(values))
            return f"{column} {op} ({marks})", values
        if key in ("start_time", "end_time", "created"):
            if op not in _NUMBER_OPS:
                raise InvalidInput(f"{key} cannot be compared with {op}", hint="use = != < <= > >=")
            return f"{column} {op} ?", [int(value)]
        if op not in _STRING_OPS:
            raise InvalidInput(f"{key} cannot be compared with {op}", hint="use = != LIKE ILIKE")
        if op == "ILIKE":
            return f"LOWER({column}) LIKE ?", [str(value).lower()]
        return f"{column} {_STRING_OPS[op]} ?", [value]
    raise InvalidInput(
        f"cannot search by {kind} {key!r}", hint="search metrics., params., tags. or attributes."
    )


def _order(order: tuple[str, str, bool] | None) -> tuple[str, str, list[Any]]:
    """(join, ORDER BY expression, join parameters); missing values sort last either way."""
    if order is None:
        return "", "r.start_time DESC, r.run_uuid", []
    kind, key, ascending = order
    direction = "ASC" if ascending else "DESC"
    if kind == "metric":
        join = "LEFT JOIN latest_metrics o ON o.run_uuid = r.run_uuid AND o.key = ?"
        return join, f"o.value IS NULL, o.value {direction}, r.run_uuid", [key]
    if kind in ("parameter", "tag"):
        table = "params" if kind == "parameter" else "tags"
        join = f"LEFT JOIN {table} o ON o.run_uuid = r.run_uuid AND o.key = ?"
        return join, f"o.value IS NULL, o.value {direction}, r.run_uuid", [key]
    if kind == "attribute" and key in _ATTRIBUTES:
        return "", f"{_ATTRIBUTES[key]} {direction}, r.run_uuid", []
    raise InvalidInput(
        f"cannot sort by {kind} {key!r}", hint="e.g. metrics.loss ASC or attributes.start_time DESC"
    )


def _page_args(page_size: int, page_token: str | None) -> tuple[int, int]:
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput(f"page_size {page_size} is out of range", hint=f"ask for 1 to {MAX_PAGE} runs")
    if page_token in (None, ""):
        return page_size, 0
    if not str(page_token).isdigit():
        raise InvalidInput(
            "the page token is not one this server gave", hint="start again from the first page"
        )
    return page_size, int(str(page_token))


# -- rows ----------------------------------------------------------------------------------------------------


def _rows_sql(conn: sqlite3.Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    runs = {
        run_id: {
            "run_id": run_id,
            "name": name,
            "status": status,
            "start_time": start,
            "end_time": end,
            "experiment_id": str(exp),
            "params": {},
            "metrics": {},
            "tags": {},
        }
        for run_id, name, status, start, end, exp in conn.execute(
            "SELECT run_uuid, name, status, start_time, end_time, experiment_id FROM runs "
            f"WHERE run_uuid IN ({marks})",
            list(ids),
        )
    }
    for run_id, key, value in conn.execute(
        f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})", list(ids)
    ):
        runs[run_id]["params"][key] = value
    for run_id, key, value, is_nan in conn.execute(
        f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})", list(ids)
    ):
        runs[run_id]["metrics"][key] = None if is_nan else value
    tag_marks = ",".join("?" * len(ROW_TAGS))
    for run_id, key, value in conn.execute(
        f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks}) AND key IN ({tag_marks})",
        [*ids, *ROW_TAGS],
    ):
        runs[run_id]["tags"][key] = value
    return [runs[i] for i in ids if i in runs]


def _row_of(run: Any, all_tags: bool = False) -> dict[str, Any]:
    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "experiment_id": str(run.info.experiment_id),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(tags) if all_tags else {k: v for k, v in tags.items() if k in ROW_TAGS},
    }


def search_runs(
    project: Project,
    experiment_id: str,
    filter_string: str = "",
    order_by: str | None = None,
    page_size: int = 50,
    page_token: str | None = None,
) -> dict[str, Any]:
    """One page of an experiment's active runs matching `filter_string` (MLflow's syntax), in `order_by`
    order; `next_page_token` asks for the next page."""
    if not experiment_id.isdigit():
        raise InvalidInput(
            f"{experiment_id!r} is not an experiment id", hint="ids are numbers; see experiments"
        )
    clauses, order = _parse(filter_string, order_by)
    db = _db(project)
    if db is None:
        return _search_client(project, experiment_id, filter_string, order_by, page_size, page_token)
    limit, offset = _page_args(page_size, page_token)
    where, args = ["r.experiment_id = ?", "r.lifecycle_stage = 'active'"], [int(experiment_id)]
    for clause in clauses:
        sql, values = _clause(clause)
        where.append(sql)
        args += values
    join, order_sql, join_args = _order(order)
    condition = " AND ".join(where)
    with _read(db) as conn:
        if (
            conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", [int(experiment_id)]).fetchone()
            is None
        ):
            raise NotFound(f"no experiment {experiment_id}", hint="see the experiments list")
        total = conn.execute(f"SELECT COUNT(*) FROM runs r WHERE {condition}", args).fetchone()[0]
        ids = [
            row[0]
            for row in conn.execute(
                f"SELECT r.run_uuid FROM runs r {join} WHERE {condition} "
                f"ORDER BY {order_sql} LIMIT ? OFFSET ?",
                [*join_args, *args, limit, offset],
            )
        ]
        rows = _rows_sql(conn, ids)
        # the keys of the experiment's latest 1,000 runs (rowid order: no sort of the whole table)
        recent = "SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY rowid DESC LIMIT 1000"
        keys = {
            name: [
                k
                for (k,) in conn.execute(
                    f"SELECT DISTINCT key FROM {table} WHERE run_uuid IN ({recent}) ORDER BY key",
                    [int(experiment_id)],
                )
            ]
            for name, table in (("params", "params"), ("metrics", "latest_metrics"))
        }
    more = offset + len(ids) < total
    return {
        "runs": rows,
        "next_page_token": str(offset + limit) if more else None,
        "total": total,
        "keys": keys,
    }


def _search_client(
    project: Project,
    experiment_id: str,
    filter_string: str,
    order_by: str | None,
    page_size: int,
    page_token: str | None,
) -> dict[str, Any]:
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput(f"page_size {page_size} is out of range", hint=f"ask for 1 to {MAX_PAGE} runs")
    from mlflow.exceptions import MlflowException

    client = tracking.client(project)
    try:
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            order_by=[order_by] if order_by else None,
            max_results=page_size,
            page_token=page_token or None,
        )
    except MlflowException as exc:
        raise InvalidInput(
            f"the tracking server refused the search: {exc.message}", hint="check the filter"
        ) from None
    rows = [_row_of(run) for run in page]
    keys = {
        "params": sorted({k for r in rows for k in r["params"]}),
        "metrics": sorted({k for r in rows for k in r["metrics"]}),
    }
    token = page.token.decode() if isinstance(page.token, bytes) else page.token
    return {"runs": rows, "next_page_token": token or None, "total": None, "keys": keys}


# -- one run, several runs --------------------------------------------------------------------------------


def _get_run(project: Project, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    if not run_id.isalnum() or len(run_id) > 64:
        raise InvalidInput(f"{run_id!r} is not an MLflow run id", hint="run ids are 32 hex digits")
    try:
        return tracking.client(project).get_run(run_id)
    except MlflowException:
        raise NotFound(f"no MLflow run {run_id}", hint="see the experiment's runs") from None


def run_detail(project: Project, run_id: str) -> dict[str, Any]:
    run = _get_run(project, run_id)
    client = tracking.client(project)
    artifacts = []
    pending = [None]
    while pending and len(artifacts) < 500:
        for item in client.list_artifacts(run_id, pending.pop()):
            artifacts.append({"path": item.path, "is_dir": item.is_dir, "size": item.file_size})
            if item.is_dir:
                pending.append(item.path)
    tags = run.data.tags
    row = _row_of(run, all_tags=True)
    row["artifacts"] = artifacts
    lineage = {
        "notebook": tags.get("mlflow.source.name"),
        "git_commit": tags.get("mlflow.source.git.commit"),
        "snapshot": tags.get("nblift.snapshot") or tags.get("nblift.snapshot_id"),
        "lock": tags.get("nblift.lock"),
        "nblift_run": tags.get("nblift.run_id"),
    }
    return {"run": row, "lineage": lineage}


def _thin(points: list[tuple[int, float, int]]) -> list[tuple[int, float, int]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    thinned = [points[int(i * stride)] for i in range(MAX_POINTS)]
    thinned[-1] = points[-1]
    return thinned


def _history(project: Project, run_id: str, key: str) -> list[tuple[int, float, int]]:
    db = _db(project)
    if db is not None:
        with _read(db) as conn:
            points = conn.execute(
                "SELECT step, value, timestamp FROM metrics WHERE run_uuid = ? AND key = ? AND is_nan = 0 "
                "ORDER BY step, timestamp",
                [run_id, key],
            ).fetchall()
    else:
        history = tracking.client(project).get_metric_history(run_id, key)
        points = sorted((m.step, m.value, m.timestamp) for m in history)
    return _thin([(int(s), float(v), int(t)) for s, v, t in points])


def compare(project: Project, run_ids: Sequence[str]) -> dict[str, Any]:
    """Runs side by side: every parameter (marked where they differ), every metric's curve and every data
    input's version (marked where they differ)."""
    ids = list(dict.fromkeys(run_ids))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidInput(f"compare {len(ids)} runs?", hint=f"pick 2 to {MAX_COMPARE} runs")
    fetched = [_get_run(project, run_id) for run_id in ids]
    runs = [_row_of(run) for run in fetched]
    param_keys = sorted({k for r in runs for k in r["params"]})
    params = [
        {
            "key": key,
            "values": {r["run_id"]: r["params"].get(key) for r in runs},
            "differs": len({r["params"].get(key) for r in runs}) > 1,
        }
        for key in param_keys
    ]
    metric_keys = sorted({k for r in runs for k in r["metrics"]})
    metrics = {
        key: {r["run_id"]: _history(project, r["run_id"], key) for r in runs if key in r["metrics"]}
        for key in metric_keys
    }
    from ..data.mlflow_inputs import data_changes

    # the data inputs each run read (hash and version), marked where they differ
    return {"runs": runs, "params": params, "metrics": metrics, "data": data_changes(fetched)}

"""`nblift export skypilot RUN_OR_NOTEBOOK`: a folder SkyPilot launches (`sky launch task.yaml`) that runs the
same bundle with nblift's runner, as an SSH host would.

The folder is SkyPilot's `workdir` (synced to the cluster; `setup` and `run` execute in it):

    task.yaml         the SkyPilot task: resources, setup (the environment from the lock), run (the runner)
    store/objects/    the bundle's objects (the notebook, the project's files, the lock), by content
    runtime/nblift/   nblift's own Python files (the runner and the agent; standard library plus the env)
    run/request.json  the run specification (parameters, tags, budget), read by the runner
    run/launch.json   how the agent builds the environment (uv, cached under ~/.nblift/envs/KEY)

The runner logs to the project's MLflow tracking server when one is configured; otherwise into an embedded
store in `run/tracking` on the cluster. `--results s3://...` mounts a bucket and copies the run folder there
when the run ends. Paths in `launch.json` are relative to the folder (the agent resolves them), so the same
folder runs wherever SkyPilot puts it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..project import Project
from ..render import yaml_text
from ..runs.model import SPEC_FILE, TrackingSpec

TASK_FILE = "task.yaml"
#: Where a run's results bucket is mounted on the cluster (`--results`).
RESULTS_MOUNT = "/nblift-results"
_PATH = 'export PATH="$HOME/.local/bin:$PATH"\n'


@dataclasses.dataclass(frozen=True)
class Resources:
    """What the task asks SkyPilot for (each optional: SkyPilot picks the cheapest that fits)."""

    accelerators: str | None = None  # "A100:2"
    cloud: str | None = None
    instance_type: str | None = None
    spot: bool = False

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.accelerators:
            out["accelerators"] = self.accelerators
        if self.cloud:
            out["cloud"] = self.cloud
        if self.instance_type:
            out["instance_type"] = self.instance_type
        if self.spot:
            out["use_spot"] = True
        return out


@dataclasses.dataclass(frozen=True)
class Exported:
    folder: str
    task: str  # task.yaml's path
    run_id: str
    notebook: str
    bundle: str
    objects: int
    bytes: int
    tracking: str  # where the run logs: the server's URI, or "run/tracking on the cluster"
    estimate: str  # the cost estimate, as `nblift run` prints it ("" without a price)
    command: str  # what to type next

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_accelerators(text: str | None) -> str | None:
    """`A100`, `A100:2`, `H100-80GB:8`: SkyPilot's accelerator syntax, checked before it reaches a cloud."""
    import re

    if text is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,40}(:[1-9][0-9]{0,2})?", text):
        raise InvalidInput(
            f"--gpus {text!r} is not an accelerator SkyPilot knows how to read",
            hint="give a GPU type and a count, e.g. --gpus A100:2 (`sky show-gpus` lists them)",
        )
    return text


def check_results(uri: str | None) -> str | None:
    if uri is None:
        return None
    scheme = uri.partition("://")[0]
    if scheme not in ("s3", "gs", "r2", "cos") or not uri.partition("://")[2].strip("/"):
        raise InvalidInput(
            f"--results {uri!r} is not a bucket SkyPilot can mount",
            hint="give a bucket URI such as s3://my-bucket/nblift-runs",
        )
    return uri.rstrip("/")


def _tracking(project: Project) -> tuple[TrackingSpec, str]:
    from .. import tracking

    experiment = tracking.experiment_name(project)
    target = tracking.target_for(project)
    if not target.embedded:
        return TrackingSpec(uri=target.uri, experiment=experiment), target.display_uri
    return TrackingSpec(project="run/tracking", experiment=experiment), "run/tracking on the cluster"


def _copy_objects(store: Any, oids: list[str], objects: Path) -> int:
    size = 0
    for oid in oids:
        source = store.path_of(oid)
        dest = objects / oid[:2] / oid[2:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        size += dest.stat().st_size
    return size


def _plan(requirements: str | None, index_strategy: str | None) -> dict[str, Any]:
    """launch.json: how the agent builds the environment (paths relative to the folder; `~`: the cluster's
    home)."""
    import hashlib

    from ..backends.ssh import _runner_packages

    packages = _runner_packages()
    locks = [requirements] if requirements else []
    key = hashlib.sha256(json.dumps([locks, packages, index_strategy]).encode()).hexdigest()[:20]
    environ = {"MLFLOW_DISABLE_TELEMETRY": "true"}
    return {
        "env": f"~/.nblift/envs/{key}",
        "python": "python3",
        "uv": "uv",
        "offline": False,
        "requirements": [f"store/objects/{oid[:2]}/{oid[2:]}" for oid in locks],
        "index_strategy": index_strategy,
        "packages": packages,
        "runtime": "runtime",
        "store": "store",
        "environ": environ,
    }


def task_yaml(name: str, resources: Resources, results: str | None, run_id: str) -> dict[str, Any]:
    """The SkyPilot task, as data (`yaml.safe_dump` writes it)."""
    agent = "python3 runtime/nblift/target/agent.py"
    setup = (
        _PATH + "command -v uv >/dev/null || python3 -m pip install --user --quiet uv\n"
        f"{agent} build run/launch.json\n"
    )
    run = _PATH + "mkdir -p run/tracking/.nblift\n" + f"{agent} launch run\n"
    if results:
        # the run folder is kept in the bucket whether the notebook succeeded or not
        run = (
            _PATH
            + "mkdir -p run/tracking/.nblift\n"
            + f"{agent} launch run; status=$?\n"
            + f"mkdir -p {RESULTS_MOUNT}/{run_id} && cp -r run/. {RESULTS_MOUNT}/{run_id}/\n"
            + "exit $status\n"
        )
    task: dict[str, Any] = {"name": name, "workdir": ".", "setup": setup, "run": run}
    if resources.to_yaml():
        task["resources"] = resources.to_yaml()
    task["envs"] = {"MLFLOW_DISABLE_TELEMETRY": "true"}
    if results:
        task["file_mounts"] = {RESULTS_MOUNT: {"source": results, "mode": "MOUNT"}}
    return task


def _task_name(notebook: str) -> str:
    import re

    stem = re.sub(r"[^a-z0-9-]+", "-", Path(notebook).stem.lower()).strip("-") or "notebook"
    return f"nblift-{stem}"[:60].rstrip("-")


def export_skypilot(
    project: Project,
    source: str,
    destination: Path | None,
    *,
    parameters: Mapping[str, Any] | None = None,
    resources: Resources = Resources(),
    results: str | None = None,
    budget: float | None = None,
    hourly_cost: float | None = None,
    timeout: float | None = None,
) -> Exported:
    """Write the folder for `source` (a notebook in the project, or a run id whose bundle it reuses)."""
    from ..bundle import read_manifest
    from ..costs.estimate import estimate
    from ..costs.prices import Priced
    from ..environment.lock import lock_in_bundle
    from ..runs.params import check_parameters
    from ..runs.records import RunRecord, record_dir, resolve_run_id
    from ..runs.service import new_spec
    from ..store import ObjectStore

    check_accelerators(resources.accelerators)
    results = check_results(results)
    priced = (
        Priced(
            hourly_cost=hourly_cost,
            instance_type=resources.instance_type or "",
            cloud=resources.cloud or "",
            spot=resources.spot,
            rate_name="--hourly-cost",
        ),
        "the exported task",
    )
    notebook = project.root / source if not Path(source).is_absolute() else Path(source)
    if source.endswith(".ipynb"):
        if not notebook.is_file():
            raise InvalidInput(f"no notebook {source}", hint="name a notebook in the project, or a run id")
        spec = new_spec(
            project, notebook, parameters, "skypilot", timeout=timeout, budget=budget, priced=priced
        )
    else:
        earlier = RunRecord(record_dir(project.state_dir, resolve_run_id(project.state_dir, source))).spec
        run_id = secrets.token_hex(6)
        spec = dataclasses.replace(
            earlier,
            id=run_id,
            run_name=f"{Path(earlier.notebook).stem} {run_id}",
            created=time.time(),
            backend="skypilot",
            parameters=check_parameters({**earlier.parameters, **dict(parameters or {})}),
            timeout=timeout if timeout is not None else earlier.timeout,
            tags={
                **earlier.tags,
                "nblift.backend": "skypilot",
                "nblift.run_id": run_id,
                "nblift.exported_from": earlier.id,
            },
            submission_id=None,
            cost=estimate(project, earlier.notebook, "skypilot", budget, priced=priced).spec(),
        )
    tracking, where = _tracking(project)
    spec = spec.with_tracking(tracking)
    store = ObjectStore(project.state_dir)
    manifest = read_manifest(store, spec.bundle)
    oids = sorted({spec.bundle, *(str(e["oid"]) for e in manifest.get("files", {}).values())})
    lock, requirements = lock_in_bundle(store, manifest)
    folder = destination or project.root / f"skypilot-{spec.id}"
    if folder.exists() and any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty", hint="name a new folder with -o")
    (folder / "run").mkdir(parents=True, exist_ok=True)
    size = _copy_objects(store, oids, folder / "store" / "objects")
    from ..backends.remote import runtime_files

    for rel, data in runtime_files().items():
        path = folder / "runtime" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "run" / SPEC_FILE).write_text(spec.dumps())
    plan = _plan(requirements, lock.index_strategy if lock else None)
    (folder / "run" / "launch.json").write_text(json.dumps(plan, indent=1))
    task = task_yaml(_task_name(spec.notebook), resources, results, spec.id)
    header = (
        f"# SkyPilot task written by nblift for {spec.notebook} (run {spec.id}).\n"
        f"# From this folder: sky launch {TASK_FILE}\n"
    )
    (folder / TASK_FILE).write_text(header + yaml_text(task))
    return Exported(
        folder=str(folder),
        task=str(folder / TASK_FILE),
        run_id=spec.id,
        notebook=spec.notebook,
        bundle=spec.bundle,
        objects=len(oids),
        bytes=size,
        tracking=where,
        estimate=spec.cost.estimate if spec.cost else "",
        command=f"cd {folder} && sky launch {TASK_FILE}",
    )

"""A small notebook run on a local Ray head by nblift beside a bare Ray job running papermill, in one run.

A Ray head (one logical GPU) and a moto S3 server are started on loopback. Measured, median of `--repeat`:
- launch to first cell: from the submission to the notebook's first cell executing;
- total: until the run is final (nblift: the state seen locally, results mirrored through S3; bare job:
  `get_job_status` says SUCCEEDED, its executed notebook left on the node).
The first nblift launch of a session pays for Ray's upload of nblift's runtime (shown apart as "cold").

    python benchmarks/bench_ray.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ray_cluster import CREDENTIALS, RayHead, start_s3  # noqa: E402

from nblift.project import Project  # noqa: E402
from nblift.runs import service  # noqa: E402
from stamped_notebook import make_notebook as stamped_notebook  # noqa: E402

CELLS = 5
BUCKET = "bench"


def make_notebook(path: Path) -> None:
    stamped_notebook(path, CELLS)


def nblift_ray(project: Project, notebook: Path, stamp: Path) -> tuple[float, float]:
    stamp.unlink(missing_ok=True)
    start = time.time()
    info = service.launch(project, notebook, {"stamp_file": str(stamp)}, backend="ray:bench")
    while service.get_run(project, info.id).state in ("PENDING", "RUNNING"):
        time.sleep(0.05)
    final = service.get_run(project, info.id)
    assert final.state == "SUCCEEDED", final.error
    return float(stamp.read_text()) - start, time.time() - start


def bare_job(address: str, folder: Path, stamp: Path) -> tuple[float, float]:
    from ray.job_submission import JobStatus, JobSubmissionClient

    stamp.unlink(missing_ok=True)
    jobs = JobSubmissionClient(address)
    start = time.time()
    command = f"{sys.executable} -m papermill --no-progress-bar -p stamp_file {stamp} bench.ipynb out.ipynb"
    job = jobs.submit_job(entrypoint=command, runtime_env={"working_dir": str(folder)})
    while (status := jobs.get_job_status(job)) not in (
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
    ):
        time.sleep(0.05)
    assert status == JobStatus.SUCCEEDED, jobs.get_job_logs(job)
    return float(stamp.read_text()) - start, time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS, MLFLOW_DISABLE_TELEMETRY="true")
    server, endpoint = start_s3(BUCKET)
    head = RayHead()
    try:
        with tempfile.TemporaryDirectory(prefix="nblift-bench-ray-") as tmp:
            folder, plain = Path(tmp) / "project", Path(tmp) / "plain"
            folder.mkdir()
            plain.mkdir()
            values = {
                "address": head.address,
                "storage": f"s3://{BUCKET}/nblift",
                "endpoint_url": endpoint,
                "python": sys.executable,
                "install_lock": False,
            }
            lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
            (folder / "pyproject.toml").write_text(f"[tool.nblift.ray_clusters.bench]\n{lines}\n")
            project = Project.discover(folder)
            make_notebook(folder / "bench.ipynb")
            make_notebook(plain / "bench.ipynb")
            stamp = Path(tmp) / "stamp"
            cold = nblift_ray(project, folder / "bench.ipynb", stamp)
            warm, bare = [], []
            for _ in range(args.repeat):
                warm.append(nblift_ray(project, folder / "bench.ipynb", stamp))
                bare.append(bare_job(head.address, plain, stamp))
    finally:
        head.stop()
        server.stop()

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print(f"{CELLS}-cell notebook on a local Ray head, median of {args.repeat}")
    print(f"{'':34}{'first cell':>12}{'total':>10}")
    print(f"{'bare Ray job running papermill':34}{med(bare, 0):>11.2f}s{med(bare, 1):>9.2f}s")
    print(f"{'nblift ray, first launch':34}{cold[0]:>11.2f}s{cold[1]:>9.2f}s")
    print(f"{'nblift ray':34}{med(warm, 0):>11.2f}s{med(warm, 1):>9.2f}s")
    first, total = med(warm, 0) / med(bare, 0), med(warm, 1) / med(bare, 1)
    print(f"nblift vs bare job: first cell {first:.2f}x, total {total:.2f}x")


if __name__ == "__main__":
    main()

"""A small notebook run on Kubernetes by nblift beside a bare Job running papermill, on the same stand-in.

The Kubernetes stand-in of the tests (tests/integration/kube_node.py: kmock's API server on loopback, with a
control plane and a node that runs each pod's command as a local process) and a moto S3 server are started.
Measured, median of `--repeat`:
- launch to first cell: from the launch call to the notebook's first cell executing;
- total: until the run is final at home (nblift: the state seen locally, results mirrored through the
  bucket; bare Job: the Job's Complete condition seen through the API, then its executed notebook
  downloaded from the bucket).
The bare Job does the least a Job can do with the same inputs: its container fetches the notebook from the
bucket, runs papermill and puts the executed notebook back. The first nblift launch of a session sends the
bundle and nblift's runtime to the bucket (shown apart as "cold"); later ones find them there.
Every process is a fresh interpreter (no .pyc is written here): both sides pay for their imports.

Then the same notebook on a target whose image has no environment (`image_has_env = false`, an
`env_cache` volume): the first run's pod builds the environment with uv (offline, from the local uv cache:
no package index is reached), the next ones find it in the volume. Shown beside the image's own Python.

    python benchmarks/bench_k8s.py [--repeat 3]
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

from kube_node import KubeStandIn  # noqa: E402
from ray_cluster import CREDENTIALS, start_s3  # noqa: E402

from nblift.project import Project  # noqa: E402
from nblift.runs import service  # noqa: E402
from stamped_notebook import make_notebook  # noqa: E402

CELLS = 5
BUCKET = "bench"
BARE = """\
import os, boto3, papermill
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.download_file("bench", "bare/bench.ipynb", "bench.ipynb")
papermill.execute_notebook("bench.ipynb", "out.ipynb", parameters={"stamp_file": os.environ["STAMP"]},
                           progress_bar=False)
s3.upload_file("out.ipynb", "bench", "bare/out.ipynb")
"""


def nblift_k8s(project: Project, notebook: Path, stamp: Path, target: str = "bench") -> tuple[float, float]:
    stamp.unlink(missing_ok=True)
    start = time.time()
    info = service.launch(project, notebook, {"stamp_file": str(stamp)}, backend=f"k8s:{target}")
    while service.get_run(project, info.id).state in ("PENDING", "RUNNING"):
        time.sleep(0.05)
    final = service.get_run(project, info.id)
    assert final.state == "SUCCEEDED", final.error
    return float(stamp.read_text()) - start, time.time() - start


def bare_job(batch: object, endpoint: str, stamp: Path, n: int, out: Path) -> tuple[float, float]:
    import boto3

    stamp.unlink(missing_ok=True)
    name = f"bare-{n}"
    env = [{"name": "ENDPOINT", "value": endpoint}, {"name": "STAMP", "value": str(stamp)}]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "runner", "image": "papermill", "command": [sys.executable, "-c", BARE],
                         "workingDir": "/work", "env": env}
                    ],
                }
            },
        },
    }  # fmt: skip
    start = time.time()
    batch.create_namespaced_job("bench", job)  # type: ignore[attr-defined]
    while True:
        status = batch.read_namespaced_job_status(name, "bench").status  # type: ignore[attr-defined]
        kinds = {c.type for c in (status.conditions if status else None) or [] if c.status == "True"}
        if kinds & {"Complete", "Failed"}:
            break
        time.sleep(0.05)
    assert "Complete" in kinds, kinds
    boto3.client("s3", endpoint_url=endpoint).download_file(BUCKET, "bare/out.ipynb", str(out))
    return float(stamp.read_text()) - start, time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS, MLFLOW_DISABLE_TELEMETRY="true")
    server, endpoint = start_s3(BUCKET)
    kube = KubeStandIn(dict(os.environ))
    try:
        with tempfile.TemporaryDirectory(prefix="nblift-bench-k8s-", ignore_cleanup_errors=True) as tmp:
            from kubernetes import client, config

            os.environ["KUBECONFIG"] = str(kube.kubeconfig(Path(tmp) / "kubeconfig"))
            batch = client.BatchV1Api(config.new_client_from_config(config_file=os.environ["KUBECONFIG"]))
            folder = Path(tmp) / "project"
            folder.mkdir()
            values = {
                "namespace": "bench",
                "image": "python",
                "python": sys.executable,
                "image_has_env": True,  # as the bare Job's image: the interpreter has papermill and the rest
                "storage": f"s3://{BUCKET}/nblift",
                "endpoint_url": endpoint,
                "gpus": 1,
            }
            uv = Path(sys.executable).parent / "uv"
            building = {**values, "image_has_env": False, "env_cache": "bench-envs", "offline": True}
            tables = {"bench": values, "bench-env": {**building, "uv": str(uv)}}
            (folder / "pyproject.toml").write_text(
                "".join(
                    f"[tool.nblift.kubernetes.{name}]\n"
                    + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
                    for name, table in tables.items()
                )
            )
            project = Project.discover(folder)
            make_notebook(folder / "bench.ipynb", CELLS)
            import boto3

            boto3.client("s3", endpoint_url=endpoint).upload_file(
                str(folder / "bench.ipynb"), BUCKET, "bare/bench.ipynb"
            )
            stamp = Path(tmp) / "stamp"
            cold = nblift_k8s(project, folder / "bench.ipynb", stamp)
            warm, bare = [], []
            for n in range(args.repeat):
                warm.append(nblift_k8s(project, folder / "bench.ipynb", stamp))
                bare.append(bare_job(batch, endpoint, stamp, n, Path(tmp) / "out.ipynb"))
            built = nblift_k8s(project, folder / "bench.ipynb", stamp, "bench-env")
            cached = [
                nblift_k8s(project, folder / "bench.ipynb", stamp, "bench-env") for _ in range(args.repeat)
            ]
    finally:
        kube.stop()
        server.stop()

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print(f"{CELLS}-cell notebook on the Kubernetes stand-in, median of {args.repeat}")
    print(f"{'':34}{'first cell':>12}{'total':>10}")
    print(f"{'bare Job running papermill':34}{med(bare, 0):>11.2f}s{med(bare, 1):>9.2f}s")
    print(f"{'nblift k8s, first launch':34}{cold[0]:>11.2f}s{cold[1]:>9.2f}s")
    print(f"{'nblift k8s':34}{med(warm, 0):>11.2f}s{med(warm, 1):>9.2f}s")
    first, total = med(warm, 0) / med(bare, 0), med(warm, 1) / med(bare, 1)
    print(f"nblift vs bare Job: first cell {first:.2f}x, total {total:.2f}x (target: within 1.3x)")
    print(f"{'env from the lock, pod builds it':34}{built[0]:>11.2f}s{built[1]:>9.2f}s")
    print(f"{'env from the lock, env_cache hit':34}{med(cached, 0):>11.2f}s{med(cached, 1):>9.2f}s")
    hit = med(cached, 0) / med(warm, 0)
    print(f"env_cache hit vs the image's own Python: first cell {hit:.2f}x")


if __name__ == "__main__":
    main()

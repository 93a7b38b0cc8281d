"""Snapshots with real kernels: snapshot, restart, restore; the faults of SECURITY.md's stored-state table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kernel_helpers import ROOT, Kernel

pytestmark = pytest.mark.integration

SETUP = """
%load_ext nblift
import numpy as np, pandas as pd, sqlite3
arr = np.arange(1_000_000, dtype="float64").reshape(1000, 1000)
solo = np.ones((512, 1024))
df = pd.DataFrame({"i": np.arange(1000), "f": np.linspace(0, 1, 1000),
                   "c": pd.Categorical(["a", "b"] * 500), "s": [f"row{i}" for i in range(1000)]})
config = {"lr": 0.01, "layers": [64, 32]}
alias = config
shared = [arr]
def scale(x, k=2):
    return x * k
gen = (i for i in range(10))
conn = sqlite3.connect(":memory:")
OPENAI_API_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
db_password = "hunter2-very-secret"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    return folder


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "mine")}


@pytest.fixture
def kernel(project: Path, env: dict[str, str]):
    k = Kernel(project, env)
    yield k
    k.shutdown()


def _snapshot(k: Kernel, message: str) -> str:
    k.run(f"_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m {message}')")
    return k.value("_r.data['id']")


def test_snapshot_restart_restore_values_and_aliasing(
    kernel: Kernel, project: Path, env: dict[str, str]
) -> None:
    kernel.run(SETUP)
    sid = _snapshot(kernel, "first")
    report = kernel.value("_r.data")
    assert report["unstorable"].keys() == {"gen", "conn"}
    assert "generator" in report["unstorable"]["gen"]
    assert set(report["redacted"]) == {"OPENAI_API_KEY", "db_password"}
    expected = kernel.value("[float(arr.sum()), df['s'].tolist()[:3], str(df['c'].dtype), config, scale(3)]")
    kernel.shutdown()

    fresh = Kernel(project, env)
    try:
        fresh.run("%load_ext nblift")
        out = fresh.run(f"%lift restore {sid[:6]}")
        assert "restored" in out
        assert (
            fresh.value("[float(arr.sum()), df['s'].tolist()[:3], str(df['c'].dtype), config, scale(3)]")
            == expected
        )
        assert fresh.value("alias is config") is True
        assert fresh.value("shared[0] is arr") is True
        # lazy: mapped and copied on write, yet an exact ndarray as it was stored
        assert fresh.value("type(solo).__name__") == "ndarray"
        assert fresh.value("not solo.flags.owndata and solo.flags.writeable") is True
        # arr shares its buffer with `shared`: stored in one group, its buffer is mapped too
        assert fresh.value("not arr.flags.owndata and arr.flags.writeable") is True
        fresh.run("arr[0, 0] = -1.0; solo[0, 0] = 5.0")
        assert fresh.value("'gen' in globals() or 'conn' in globals()") is False
        assert fresh.value("'OPENAI_API_KEY' in globals()") is False
        out = fresh.run(f"%lift restore {sid} --only gen,conn --rerun")
        assert fresh.value("sum(gen)") == 45
        assert fresh.value("type(conn).__name__") == "Connection"
    finally:
        fresh.shutdown()
    # the copy-on-write edit never reached the store
    check = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project), "fsck"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_partial_restore_and_incremental_snapshot(kernel: Kernel) -> None:
    kernel.run(SETUP)
    first = _snapshot(kernel, "one")
    kernel.run("config['lr'] = 0.5")
    second = _snapshot(kernel, "two")
    report = kernel.value("_r.data")
    assert report["changed"] == ["alias", "config"]
    assert report["new_bytes"] < 64 * 1024
    kernel.run("config = None; arr = None; extra = 1")
    kernel.run(f"%lift restore {first} --only config")
    assert kernel.value("config['lr']") == 0.01
    assert kernel.value("arr is None") is True
    diff = kernel.value(f"get_ipython().run_line_magic('lift', '--json diff {first} {second}').data")
    assert [c["name"] for c in diff["changed"]] == ["alias", "config"]
    assert any("config['lr'] = 0.5" in c["source"] for c in diff["cells_added"])


def test_background_snapshot_frees_the_kernel_and_lands(kernel: Kernel, project: Path) -> None:
    kernel.run(SETUP)
    kernel.run("_r = get_ipython().run_line_magic('lift', '--json snapshot -m bg')")
    first = kernel.value("_r.data")
    assert first["state"] == "saving"
    kernel.run("config['lr'] = 0.7")  # the kernel goes on while the child writes
    kernel.run(
        "from nblift.snapshot.verbs import snapshotter; _done = snapshotter(get_ipython()).collect(wait=True)"
    )
    assert kernel.value("_done.id") == first["id"]
    assert kernel.value("sorted(_done.unstorable)") == ["conn", "gen"]
    # the snapshot holds the state at the moment it was taken, not the later change
    kernel.run(f"%lift restore {first['id']} --only config")
    assert kernel.value("config['lr']") == 0.01
    listing = kernel.value("get_ipython().run_line_magic('lift', '--json snapshots').data['snapshots']")
    assert [s["id"] for s in listing] == [first["id"]]


def test_foreign_signed_snapshot_is_refused_until_trusted(
    kernel: Kernel, project: Path, tmp_path: Path
) -> None:
    kernel.run(SETUP)
    sid = _snapshot(kernel, "mine")
    kernel.shutdown()
    other = Kernel(project, {"NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "someone-else")})
    try:
        other.run("%load_ext nblift")
        out = other.run(f"%lift restore {sid}", allow_error=True)
        assert "untrusted" in out and f"snapshots trust {sid}" in out
        assert other.value("'arr' in globals()") is False
        other.run(f"%lift snapshots trust {sid}")
        other.run(f"%lift restore {sid} --only config")
        assert other.value("config['layers']") == [64, 32]
    finally:
        other.shutdown()


def test_corrupt_object_is_named_and_others_restore(kernel: Kernel, project: Path) -> None:
    kernel.run(SETUP)
    sid = _snapshot(kernel, "c")
    manifest = json.loads((project / ".nblift" / "snapshots" / f"{sid}.json").read_text())
    config_oid = manifest["encodings"][manifest["variables"]["config"]["encoding"]]["objects"][0]
    path = project / ".nblift" / "objects" / config_oid[:2] / config_oid[2:]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    kernel.run("del config, alias, df")
    out = kernel.run(f"%lift restore {sid}")
    assert config_oid in out
    assert kernel.value("list(df.columns)") == ["i", "f", "c", "s"]
    assert kernel.value("'config' in globals()") is False


def test_sigkill_during_snapshot_keeps_previous_snapshots(kernel: Kernel, project: Path) -> None:
    kernel.run(SETUP)
    first = _snapshot(kernel, "before")
    kernel.run("big = np.random.default_rng(0).random((4000, 4000))")  # 128 MB, new content
    kernel.kc.execute("%lift snapshot -m during")
    deadline = time.time() + 30
    tmp_dir = project / ".nblift" / "objects" / "tmp"
    while time.time() < deadline and not (tmp_dir.is_dir() and any(tmp_dir.iterdir())):
        time.sleep(0.002)
    os.kill(kernel.pid, signal.SIGKILL)
    time.sleep(0.5)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    listing = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project), "--json", "snapshots", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ids = [s["id"] for s in json.loads(listing.stdout)["snapshots"]]
    assert first in ids
    check = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project), "fsck"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


def test_secrets_never_reach_the_store(kernel: Kernel, project: Path) -> None:
    kernel.run(SETUP)
    kernel.run("settings = {'token': 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'}")
    _snapshot(kernel, "s")
    blobs = b"".join(p.read_bytes() for p in (project / ".nblift").rglob("*") if p.is_file())
    for secret in (
        b"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        b"hunter2-very-secret",
        b"ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ):
        assert secret not in blobs


def test_export_import_into_another_machines_project(kernel: Kernel, project: Path, tmp_path: Path) -> None:
    """A bundle carries a snapshot to another project and key: verified, untrusted until trusted."""
    kernel.run(SETUP)
    sid = _snapshot(kernel, "ship")
    kernel.shutdown()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "python"),
        "NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "mine"),
    }
    bundle = tmp_path / "ship.tar"
    subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project), "snapshots", "export", sid, str(bundle)],
        env=env,
        check=True,
        capture_output=True,
    )
    other = tmp_path / "elsewhere"
    other.mkdir()
    other_env = {**env, "NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "other-machine")}
    imported = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(other), "snapshots", "import", str(bundle)],
        env=other_env,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    assert (other / ".nblift" / "snapshots" / f"{sid}.json").is_file()
    remote = Kernel(other, {"NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "other-machine")})
    try:
        remote.run("%load_ext nblift")
        assert "untrusted" in remote.run(f"%lift restore {sid}", allow_error=True)
        remote.run(f"%lift snapshots trust {sid}")
        remote.run(f"%lift restore {sid}")
        assert remote.value("[float(arr.sum()), config['layers'], alias is config]") == [
            499999500000.0,
            [64, 32],
            True,
        ]
    finally:
        remote.shutdown()


def test_each_snapshot_is_an_mlflow_run(project: Path, env: dict[str, str]) -> None:
    k = Kernel(project, {**env, "NBLIFT_SNAPSHOT_MLFLOW": "true"})
    try:
        k.run("%load_ext nblift\nx = [1, 2, 3]")
        sid = _snapshot(k, "tracked")
        k.run(
            "from nblift.snapshot.verbs import snapshotter\n"
            "assert snapshotter(get_ipython()).wait_for_mirror(120)"
        )
        # the record was written by a helper process: MLflow never entered the kernel
        assert k.value("sorted(m for m in __import__('sys').modules if m.split('.')[0] == 'mlflow')") == []
        assert not list((project / ".nblift" / "snapshots" / "mlflow-queue").iterdir())
    finally:
        k.shutdown()
    from nblift.project import Project
    from nblift.tracking import client

    mlflow_client = client(Project.discover(project))
    runs = mlflow_client.search_runs(
        [e.experiment_id for e in mlflow_client.search_experiments()],
        filter_string=f"tags.`nblift.snapshot_id` = '{sid}'",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.note.content"] == "tracked"
    assert run.data.metrics["nblift.variables"] == 1
    artifacts = [a.path for a in mlflow_client.list_artifacts(run.info.run_id, "nblift")]
    assert artifacts == ["nblift/snapshot.json"]


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_swapped_payload_is_never_unpickled(kernel: Kernel, project: Path, tmp_path: Path) -> None:
    """SECURITY.md: a __reduce__ payload dropped into the store, and a manifest edited to point at it
    (with its own allow-list), is refused as untrusted: nothing is unpickled."""
    import pickle

    from nblift.store import ObjectStore

    kernel.run(SETUP)
    sid = _snapshot(kernel, "victim")
    marker = tmp_path / "pwned"
    evil = ObjectStore(project / ".nblift").put_bytes(pickle.dumps(_Payload(str(marker))))
    path = project / ".nblift" / "snapshots" / f"{sid}.json"
    manifest = json.loads(path.read_text())
    encoding = manifest["variables"]["config"]["encoding"]
    manifest["encodings"][encoding]["objects"][0] = evil
    manifest["allowed_types"] = ["posix.system"]  # a manifest's own allow-list decides nothing
    path.chmod(0o600)
    path.write_text(json.dumps(manifest))
    kernel.run("del config, alias")
    out = kernel.run(f"%lift restore {sid} --only config", allow_error=True)
    assert "untrusted" in out
    assert not marker.exists()
    assert kernel.value("'config' in globals()") is False


def test_verify_lists_what_differs_from_the_snapshot(
    kernel: Kernel, project: Path, env: dict[str, str]
) -> None:
    kernel.run(
        "%load_ext nblift\n"
        "import numpy as np\n"
        "cfg = {'lr': 0.01}; arr = np.zeros(5); names = {'a', 'b', 'c'}\n"
        "def bump():\n"
        "    cfg['lr'] = 0.5; arr[0] = 7"
    )
    sid = _snapshot(kernel, "base")
    kernel.run("_v = get_ipython().run_line_magic('lift', '--json snapshot --verify')")
    assert kernel.value("_v.data['ok']") is True
    assert kernel.value("_v.data['checked']") == 4
    kernel.run("bump(); extra = 1")
    kernel.run("_v = get_ipython().run_line_magic('lift', '--json snapshot --verify')")
    report = kernel.value("_v.data")
    assert report["ok"] is False
    assert {d["name"]: d["reason"] for d in report["differences"]} == {
        "arr": "value differs from the stored one (numpy.ndarray)",
        "cfg": "value differs from the stored one (dict)",
        "extra": "not in the snapshot",
    }
    text = kernel.run(f"%lift snapshots verify {sid}")
    assert "3 of 4 differ" in text and "cfg: value differs" in text
    # In a terminal: the snapshot restored in a scratch namespace comes back as stored.
    cli_env = {**os.environ, **env, "PYTHONPATH": str(ROOT / "python")}
    cli = [sys.executable, "-m", "nblift", "-C", str(project)]
    done = subprocess.run([*cli, "snapshots", "verify", sid], env=cli_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 4 stored variables match" in done.stdout
    missing = subprocess.run(
        [*cli, "snapshots", "verify", "0" * 12], env=cli_env, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_a_value_with_one_unstorable_part_is_stored_without_it(
    kernel: Kernel, project: Path, env: dict[str, str]
) -> None:
    kernel.run("%load_ext nblift\nrun = {'losses': [0.9, 0.5], 'batches': (i for i in range(3))}")
    kernel.run("_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m partial')")
    sid = kernel.value("_r.data['id']")
    warnings = kernel.value("_r.data['warnings']")
    assert any(w.startswith("run: stored without ['batches']") and "generator" in w for w in warnings)
    assert kernel.value("_r.data['unstorable']") == {}
    fresh = Kernel(project, env)
    try:
        out = fresh.run(f"%load_ext nblift\n%lift restore {sid}")
        assert "restored without a part it held: run: ['batches']" in out
        assert fresh.value("run['losses']") == [0.9, 0.5]
        assert fresh.value("type(run['batches']).__name__") == "LeftOut"
    finally:
        fresh.shutdown()


def test_a_dry_run_restore_names_what_it_would_overwrite_and_changes_nothing(kernel: Kernel) -> None:
    kernel.run("%load_ext nblift\nkept = 1\ngone = [1, 2]\napi_token = 'hunter2-very-secret'")
    sid = _snapshot(kernel, "plan")
    kernel.run("del gone\nkept = 2")
    # what the Snapshots view runs before it asks (`--json` gives it the plan as data)
    kernel.run(f"_p = get_ipython().run_line_magic('lift', 'restore {sid} --dry-run --json')")
    plan = json.loads(kernel.value("repr(_p)"))
    assert plan["id"] == sid and plan["overwritten"] == ["kept"] and plan["added"] == ["gone"]
    assert "api_token" in plan["skipped"] and "api_token" not in plan["overwritten"]
    assert kernel.value("kept") == 2 and kernel.value("'gone' in globals()") is False
    only = kernel.value(
        f"get_ipython().run_line_magic('lift', '--json restore {sid} --only gone --dry-run').data"
    )
    assert only["overwritten"] == [] and only["added"] == ["gone"]


def test_restore_places_torch_tensors_and_modules_on_the_asked_device(kernel: Kernel) -> None:
    """`%lift restore --device cuda` (and `%lift move --device cuda`) put tensors and modules on the GPU."""
    kernel.run("%load_ext nblift\nimport importlib.util as _u\n_torch = _u.find_spec('torch') is not None")
    if not kernel.value("_torch"):
        pytest.skip("torch is not installed here (not a test dependency: its CUDA build is several GB)")
    if not kernel.value("__import__('torch').cuda.is_available()"):
        pytest.skip("no CUDA device here: placing on the GPU needs one (the device machine's check)")
    kernel.run("import torch\nt = torch.arange(6.0)\nnet = torch.nn.Linear(3, 2)")
    sid = _snapshot(kernel, "tensors")
    kernel.run(f"%lift restore {sid} --device cuda")
    assert kernel.value("(t.device.type, next(net.parameters()).device.type)") == ["cuda", "cuda"]
    assert kernel.value("t.cpu().tolist()") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_device_that_is_not_one_is_refused_before_restoring(kernel: Kernel) -> None:
    kernel.run("%load_ext nblift\nx = 1")
    sid = _snapshot(kernel, "one")
    kernel.run("x = 2")
    said = kernel.run(f"try:\n    %lift restore {sid} --device gpu0\nexcept Exception as e:\n    print(e)")
    assert "--device 'gpu0' is not a torch device" in str(said)
    assert kernel.value("x") == 2  # nothing was restored


def test_snapshots_keep_cell_times_and_an_estimate_uses_them(project: Path, env: dict[str, str]) -> None:
    """With no earlier run, a run's expected duration is what the notebook's cells took in its last
    snapshot."""
    import nbformat

    from nblift.costs.estimate import estimate
    from nblift.project import Project

    (project / "pyproject.toml").write_text("[tool.nblift]\nlocal_hourly_cost = 3.6\n")
    cells = ["import time", "time.sleep(0.4)", "x = 1"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, project / "timed.ipynb")
    k = Kernel(project, {**env, "JPY_SESSION_NAME": str(project / "timed.ipynb")})
    try:
        k.run("%load_ext nblift")
        half = estimate(Project.discover(project), "timed.ipynb", "local")
        for cell in cells[:2]:
            k.run(cell)
        _snapshot(k, "two-of-three")
        partial = estimate(Project.discover(project), "timed.ipynb", "local")
        assert partial.expected_seconds is None
        assert "last snapshot timed 2 of its 3 code cells" in partial.basis
        k.run(cells[2])
        _snapshot(k, "all")
    finally:
        k.shutdown()
    assert half.expected_seconds is None and "no earlier successful run" in half.basis
    done = estimate(Project.discover(project), "timed.ipynb", "local")
    assert done.expected_seconds is not None and 0.4 <= done.expected_seconds < 3.0
    assert "its cells' times in its last snapshot" in done.basis
    assert done.cost == round(3.6 * done.expected_seconds / 3600, 4)

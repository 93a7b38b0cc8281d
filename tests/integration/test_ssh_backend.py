"""The ssh backend against a real OpenSSH server the tests start on loopback, with throwaway host and client
keys and host-key checking on: runs with parameters come back (notebook, files, MLflow run imported with its
metric history), the second run reuses the host's environment and sends no unchanged objects, a dropped
connection (the sshd killed and restarted) does not stop the run, a killed runner is LOST, cancel kills the
remote process group, and a notebook named with a quote and a `;` works."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_helpers import gone, until, wait_done, wait_for_event, wait_mlflow_closed, write_notebook
from sshd_server import SSHD, Sshd, free_port
from test_metric_logging import mlflow_server  # noqa: F401 - a fixture: a real `mlflow server`

from nblift import tracking
from nblift.backends.local import group_members
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import read_handle, record_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        pytest.fail("OpenSSH server not installed: run ./dev test (it installs openssh-server)")
    import asyncssh  # noqa: F401 - a test dependency: missing means ./dev test was not run

    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote_root(tmp_path_factory):
    return tmp_path_factory.mktemp("remote")


def project_for(folder: Path, sshd: Sshd, remote_root: Path, **extra: str) -> Project:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    python = getattr(sys, "_base_executable", sys.executable)
    keys = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "identity_file": str(sshd.folder / "client"),
        "known_hosts": str(sshd.folder / "known_hosts"),
        "root": str(remote_root),
        "python": python,
        "uv": uv,
        "offline": True,
        **extra,
    }
    lines = "\n".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else v if isinstance(v, int) else repr(str(v))}"
        for k, v in keys.items()
    )
    (folder / "pyproject.toml").write_text(f"[tool.nblift.ssh_hosts.box]\n{lines}\n")
    return Project.discover(folder)


TRAIN = (
    "import nblift, pathlib\n"
    "for i in range(epochs):\n"
    "    nblift.log(step=i, loss=1.0 / (i + 1))\n"
    "pathlib.Path('model.txt').write_text(f'trained {epochs}')\n"
    "import os\n"
    "print(f'epochs is {epochs} on GPUs {os.environ.get(\"CUDA_VISIBLE_DEVICES\")!r}')"
)


def test_run_comes_back_and_the_second_run_reuses_the_host(sshd, remote_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, sshd, remote_root, gpus="1")
    notebook = write_notebook(tmp_path / "it's; train.ipynb", TRAIN, parameters="epochs = 1")
    info = service.launch(project, notebook, {"epochs": 4}, backend="ssh:box")
    assert info.backend == "ssh:box"
    done = wait_done(project, info.id, timeout=400)
    assert done.state == "SUCCEEDED", (done.error, (record_dir(project.state_dir, info.id) / "runner.log"))
    first = [
        e
        for e in service.events(project, info.id)[0]
        if e["kind"] in ("bundle.sent", "env.building", "env.ready")
    ]
    assert first[0]["kind"] == "bundle.sent" and first[0]["objects"] >= 2
    fetched = service.fetch(project, info.id)
    assert "epochs is 4 on GPUs '1'" in fetched.read_text()  # the target's GPU selection reached the kernel
    assert (fetched.parent / "artifacts" / "model.txt").read_text() == "trained 4"

    # the notebook does not use MLflow: the host never loads it, and home records the MLflow run from the run
    # folder (params, lineage tags, the metric's whole history, the executed notebook, artifacts, times)
    final = wait_mlflow_closed(project, info.id)  # recorded by a helper once the record is final
    assert final.mlflow and final.mlflow.get("recorded_at_home") and "remote_run_id" not in final.mlflow
    client = tracking.client(project)
    run = client.get_run(final.mlflow["run_id"])
    assert run.data.params["epochs"] == "4" and run.info.status == "FINISHED"
    assert [
        (m.step, m.value)
        for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    ] == [(i, 1.0 / (i + 1)) for i in range(4)]
    assert run.data.tags["nblift.backend"] == "ssh:box" and run.data.tags["nblift.state"] == "SUCCEEDED"
    assert run.data.tags["nblift.run_id"] == info.id
    assert [a.path for a in client.list_artifacts(run.info.run_id, "notebook")] == [
        f"notebook/{fetched.name}"
    ]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "outputs")] == ["outputs/model.txt"]
    events = service.events(project, info.id)[0]
    assert [e["kind"] for e in events].count("run.finished") == 1  # each event brought home once
    started, ended = (next(e["t"] for e in events if e["kind"] == k) for k in ("run.started", "run.finished"))
    assert (run.info.start_time, run.info.end_time) == (int(started * 1000), int(ended * 1000))
    remote_run = Path(read_handle(record_dir(project.state_dir, info.id)).details["run_dir"])
    assert not (remote_run / "tracking" / ".nblift" / tracking.DB_FILE).exists()  # no store made on the host

    # second run of the same work: nothing new is sent and the environment is reused
    again = service.launch(project, notebook, {"epochs": 2}, backend="ssh:box")
    ready = wait_for_event(project, again.id, "env.ready", timeout=60)
    sent = wait_for_event(project, again.id, "bundle.sent", timeout=60)
    assert sent["objects"] == 0 and sent["bytes"] == 0 and ready["key"]
    assert wait_done(project, again.id, timeout=300).state == "SUCCEEDED"

    # a notebook that logs to MLflow itself logs into the run the host made, which is imported whole
    logs = write_notebook(tmp_path / "logs.ipynb", "import mlflow\nmlflow.log_metric('acc', 0.75)")
    own = wait_done(project, service.launch(project, logs, backend="ssh:box").id, timeout=300)
    assert own.state == "SUCCEEDED", own.error
    own = wait_mlflow_closed(project, own.id)
    assert own.mlflow and own.mlflow.get("remote_run_id") and not own.mlflow.get("recorded_at_home")
    imported = client.get_run(own.mlflow["run_id"])
    assert imported.data.metrics["acc"] == 0.75 and imported.info.status == "FINISHED"
    assert imported.data.tags["nblift.imported_from"] == own.mlflow["remote_run_id"]


SLOW = "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.5)"


def remote_pid(project: Project, run_id: str) -> int:
    handle = read_handle(record_dir(project.state_dir, run_id))
    assert handle is not None
    return int(handle.details["pid"])


def test_a_dropped_connection_does_not_stop_the_run(sshd, remote_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, sshd, remote_root)
    notebook = write_notebook(
        tmp_path / "slow.ipynb",
        "import time\nfor i in range(40):\n    print('tick', i, flush=True)\n    time.sleep(0.5)",
    )
    info = service.launch(project, notebook, backend="ssh:box")
    wait_for_event(project, info.id, "cell.started", timeout=300)
    sshd.stop()  # every connection drops; the runner was started detached and goes on
    time.sleep(2)
    assert service.get_run(project, info.id).state == "RUNNING"  # unreachable is not LOST
    sshd.start()
    done = wait_done(project, info.id, timeout=120)
    assert done.state == "SUCCEEDED"
    ticks = [e for e in service.events(project, info.id)[0] if e["kind"] == "output" and "tick 39" in str(e)]
    assert ticks, "the output after the drop was streamed after the reconnect"


def test_a_killed_runner_is_lost_and_cancel_kills_the_group(sshd, remote_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("NBLIFT_RUN_HEARTBEAT_TIMEOUT", "5")
    project = project_for(tmp_path, sshd, remote_root)
    notebook = write_notebook(tmp_path / "slow.ipynb", SLOW)
    doomed = service.launch(project, notebook, backend="ssh:box")
    wait_for_event(project, doomed.id, "cell.started", timeout=300)
    pid = remote_pid(project, doomed.id)
    os.kill(pid, signal.SIGKILL)  # the "host" is this machine: kill the remote runner
    lost = until(lambda: (i := service.get_run(project, doomed.id)).state == "LOST" and i, 30, "LOST")
    assert "gone" in lost.error["message"] or "heartbeat" in lost.error["message"]
    until(lambda: not group_members(pid), 15, "the lost runner's kernel to be reaped")

    cancelled = service.launch(project, notebook, backend="ssh:box")
    wait_for_event(project, cancelled.id, "cell.started", timeout=300)
    pid = remote_pid(project, cancelled.id)
    assert group_members(pid)
    assert service.cancel(project, cancelled.id).state == "CANCELLED"
    until(lambda: gone(pid) and not group_members(pid), 20, "the remote process group to end")


def test_host_keys_are_checked(sshd, remote_root, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True
    )
    kind, key = (tmp_path / "impostor.pub").read_text().split()[:2]
    other = tmp_path / "known_hosts"  # names another key for the host: a man in the middle, as ssh sees it
    other.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    project = project_for(tmp_path, sshd, remote_root, known_hosts=str(other))
    notebook = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    with pytest.raises(Exception, match="cannot reach ssh target 'box'"):
        service.launch(project, notebook, backend="ssh:box")
    (run,) = service.list_runs(project)
    assert run.state == "FAILED" and "known_hosts" in run.error["message"]


def test_aes_gcm_is_offered_first_unless_the_ssh_config_chooses_ciphers(
    sshd, remote_root, tmp_path, monkeypatch
):
    from nblift.backends import ssh_connect

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config of the machine's user
    target = ssh_connect.target_named(project_for(tmp_path, sshd, remote_root), "box")

    async def cipher() -> str:
        conn = await ssh_connect.connect(target)
        try:
            return str(conn.get_extra_info("send_cipher"))
        finally:
            conn.close()
            ssh_connect._connections.pop(target, None)

    expected = "aes128-gcm@openssh.com" if ssh_connect._prefer_aes_gcm() else "chacha20-poly1305@openssh.com"
    assert ssh_connect.run_ssh(cipher()) == expected
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n    Ciphers chacha20-poly1305@openssh.com\n")
    assert ssh_connect._prefer_aes_gcm() is False
    assert ssh_connect.run_ssh(cipher()) == "chacha20-poly1305@openssh.com"


def test_preflight_asks_the_target_and_names_one_it_cannot_reach(sshd, remote_root, tmp_path):
    from nblift.environment.preflight import preflight

    project_for(tmp_path, sshd, remote_root)
    with (tmp_path / "pyproject.toml").open("a") as fh:
        fh.write(f'\n[tool.nblift.ssh_hosts.down]\nhost = "127.0.0.1"\nport = {free_port()}\n')
    project = Project.discover(tmp_path)
    notebook = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    reached = preflight(project, notebook, backend="ssh:box")
    assert "target" in reached.checked and not [f for f in reached.findings if f.check == "target"]
    down = preflight(project, notebook, backend="ssh:down")
    (finding,) = [f for f in down.findings if f.check == "target"]
    assert finding.severity == "error" and "cannot reach ssh target 'down'" in finding.message


def _host_findings(project: Project, notebook: Path) -> list:
    from nblift.environment.preflight import preflight

    return [f for f in preflight(project, notebook, backend="ssh:box").findings if f.check == "host"]


def test_preflight_names_what_an_unready_host_lacks_and_its_advice_works(
    sshd, remote_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    notebook = write_notebook(tmp_path / "nb.ipynb", "print('ready')")
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.99"\n')

    # no such Python, uv not on the PATH of a non-interactive login
    project = project_for(tmp_path, sshd, remote_root, python="/no/such/python3", uv="uv-not-on-path")
    missing = _host_findings(project, notebook)
    assert [f.severity for f in missing] == ["error", "error"]
    assert "no `/no/such/python3` on the host" in missing[0].message and "set python = " in missing[0].hint
    assert (
        "no uv on the host (`uv-not-on-path`)" in missing[1].message
        and "-m pip install --user uv" in missing[1].hint
    )

    # the host's Python is older than the lock needs
    project = project_for(tmp_path, sshd, remote_root)
    (old,) = _host_findings(project, notebook)
    host_python = ".".join(map(str, sys.version_info[:3]))
    assert (
        f"the lock needs Python >=3.99; `{getattr(sys, '_base_executable', sys.executable)}` on the host is "
        in old.message
    )
    assert f"nblift pin --python {host_python}" in old.hint

    # following the advice (a lock for the host's Python): nothing left to say, and the run succeeds
    lock.write_text(f'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">={host_python}"\n')
    assert _host_findings(project, notebook) == []
    run = wait_done(project, service.launch(project, notebook, backend="ssh:box").id, timeout=300)
    assert run.state == "SUCCEEDED", run.error


def test_preflight_says_when_the_host_cannot_reach_the_locks_index(sshd, remote_root, tmp_path):
    from env_helpers import WheelIndex, build_wheel, make_package

    notebook = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    wheel = build_wheel(make_package(tmp_path / "src", "libreach", "1.0.0"), tmp_path / "dist")
    with WheelIndex([wheel]) as up:
        down = f"http://127.0.0.1:{free_port()}/simple/"
        (tmp_path / "pylock.toml").write_text(
            f'lock-version = "1.0"\ncreated-by = "uv"\n[tool.nblift]\nindexes = ["{up.url}", "{down}"]\n'
        )
        project = project_for(tmp_path, sshd, remote_root, offline=False)
        (finding,) = _host_findings(project, notebook)
        assert up.requests >= 1  # the host really asked the index that is up
    assert (
        f"the host cannot reach the package index {down}" in finding.message
        and "offline = true" in finding.hint
    )
    assert _host_findings(project_for(tmp_path, sshd, remote_root), notebook) == []  # offline: not asked


def test_a_failed_environment_build_carries_uv_s_reason_home(sshd, remote_root, tmp_path):
    fake_uv = tmp_path / "uv"
    fake_uv.write_text(
        "#!/bin/sh\necho 'error: No solution found: no version of aiohttp==3.14.5' >&2\nexit 1\n"
    )
    fake_uv.chmod(0o755)
    # another interpreter path: an environment of its own, built (and failing) with the fake uv
    project = project_for(tmp_path, sshd, remote_root, uv=str(fake_uv), python=str(Path(sys.executable)))
    notebook = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    run = wait_done(project, service.launch(project, notebook, backend="ssh:box").id, timeout=300)
    assert run.state == "FAILED"
    assert "`uv venv` failed: error: No solution found: no version of aiohttp==3.14.5" in run.error["message"]
    from nblift.runs.render import logs_text

    logs = logs_text({"run": run, "events": service.events(project, run.id)[0]})
    assert logs.count("--- FAILED") == 1 and "no version of aiohttp" in logs


def test_a_lock_resolved_across_two_indexes_installs_on_the_host_as_resolved(sshd, remote_root, tmp_path):
    from env_helpers import WheelIndex, build_wheel, clean_env, make_package, uv
    from env_helpers import run as run_tool
    from nblift.environment.lock import pin, read_lock

    older = build_wheel(make_package(tmp_path / "src1", "libidx", "1.0.0"), tmp_path / "dist1")
    newer = build_wheel(make_package(tmp_path / "src2", "libidx", "2.0.0"), tmp_path / "dist2")
    with WheelIndex([newer]) as first, WheelIndex([older]) as extra:
        project = project_for(tmp_path, sshd, remote_root)
        (tmp_path / "requirements.in").write_text("libidx\n")
        environ = clean_env(PIP_INDEX_URL=first.url, PIP_EXTRA_INDEX_URL=extra.url)
        pin(project, requirements=Path("requirements.in"), environ=environ)  # pip's choice: the best match
        lock = read_lock(project.root)
        assert lock.packages["libidx"] == "2.0.0" and lock.index_strategy == "unsafe-best-match"
        # the host installs offline (the test's hosts have no package index): its uv cache gets the wheels
        warm = [uv() or "uv", "pip", "install", "-q", "--target", str(tmp_path / "warm")]
        run_tool(
            [*warm, "--index-strategy", "unsafe-best-match", "-r", str(project.root / "requirements.txt")]
        )
        code = "import importlib.metadata as m\nprint('libidx is', m.version('libidx'))"
        notebook = write_notebook(tmp_path / "nb.ipynb", code)
        run = wait_done(project, service.launch(project, notebook, backend="ssh:box").id, timeout=300)
    # uv's own default (the first index that has the package, extra indexes before the main one) would find
    # only 1.0.0 and fail the build
    assert run.state == "SUCCEEDED", run.error
    assert "libidx is 2.0.0" in service.fetch(project, run.id).read_text()


OLD_LIBAPI = (
    'def old_api():\n    """The old way.\n\n    .. deprecated:: 1.0\n'
    '        Use `new_api` instead.\n    """\n'
    "    return 1\n\n\ndef new_api():\n    return 1\n"
)
NEW_LIBAPI = "def new_api():\n    return 1\n"


def test_preflight_checks_the_notebook_s_apis_in_the_host_s_environment(sshd, remote_root, tmp_path):
    from env_helpers import WheelIndex, build_wheel, make_package, uv
    from env_helpers import run as run_tool
    from nblift.environment.lock import pin
    from nblift.environment.preflight import preflight

    wheels = {}
    for version, code in (("1.0.0", OLD_LIBAPI), ("2.0.0", NEW_LIBAPI)):
        source = make_package(tmp_path / f"src-{version}", "libapi", version)
        (source / "libapi" / "__init__.py").write_text(code)
        wheels[version] = build_wheel(source, tmp_path / f"dist-{version}")
    # the notebook's kernel has libapi 1.0.0
    kernel = tmp_path / "kernel"
    run_tool([uv() or "uv", "venv", "-q", "--python", sys.executable, str(kernel)])
    run_tool(
        [uv() or "uv", "pip", "install", "-q", "-p", str(kernel / "bin" / "python"), str(wheels["1.0.0"])]
    )
    kernel_python = str(kernel / "bin" / "python")
    # the lock has 2.0.0, where old_api is gone
    with WheelIndex([wheels["2.0.0"]]) as index:
        project = project_for(tmp_path, sshd, remote_root)
        (tmp_path / "requirements.in").write_text("libapi\n")
        pin(project, requirements=Path("requirements.in"), environ={**os.environ, "PIP_INDEX_URL": index.url})
        warm = [uv() or "uv", "pip", "install", "-q", "--target", str(tmp_path / "warm")]
        run_tool([*warm, "-r", str(project.root / "requirements.txt")])  # the offline host's uv cache
    notebook = write_notebook(tmp_path / "old.ipynb", "import libapi", "print(libapi.old_api())")

    def api_findings() -> list:
        result = preflight(project, notebook, backend="ssh:box", kernel_python=kernel_python)
        return [f for f in result.findings if f.check == "api"]

    # the host has no environment for this lock yet: preflight says so and what builds it
    (not_yet,) = api_findings()
    assert not_yet.severity == "info" and "ssh:box has no environment for this lock yet" in not_yet.message
    assert "first run there builds it" in not_yet.hint
    hello = write_notebook(tmp_path / "hello.ipynb", "import libapi\nprint('new_api', libapi.new_api())")
    run = wait_done(project, service.launch(project, hello, backend="ssh:box").id, timeout=300)
    assert run.state == "SUCCEEDED", run.error
    # now the probe runs in that environment on the host, over SSH
    (gone,) = api_findings()
    assert gone.severity == "error" and gone.cell == 1
    assert gone.message == (
        "cell 2: `libapi.old_api`: libapi has no `old_api` in libapi 2.0.0 (the kernel has 1.0.0)"
    )
    assert gone.hint == "Use `libapi.new_api` instead."  # the library's own word, qualified


def test_a_tracking_server_gets_the_run_directly(sshd, remote_root, tmp_path, mlflow_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    project = project_for(tmp_path, sshd, remote_root)
    notebook = write_notebook(tmp_path / "train.ipynb", TRAIN, parameters="epochs = 1")
    info = service.launch(project, notebook, {"epochs": 3}, backend="ssh:box")
    done = wait_done(project, info.id, timeout=300)
    assert done.state == "SUCCEEDED", done.error
    assert done.mlflow and done.mlflow["status"] == "FINISHED" and "remote_run_id" not in done.mlflow
    run = tracking.client(project).get_run(done.mlflow["run_id"])  # the server's run, not an imported copy
    assert run.data.params["epochs"] == "3" and "nblift.imported_from" not in run.data.tags
    assert len(tracking.client(project).get_metric_history(run.info.run_id, "loss")) == 3

"""The helper nblift runs on a remote host (standard library only, run by path with the host's Python):

    agent.py missing STORE_OBJECTS        oids on stdin -> the ones the host lacks, one per line
    agent.py launch RUN_DIR               build the run's environment if needed, then become the runner
    agent.py poll RUN_DIR OFFSET PID START  JSON: state, heartbeat age, new events, MLflow info, liveness
    agent.py start PID                    the process's start time (clock ticks since boot)
    agent.py signal PGID SIGNAME          signal a process group (no error when it is gone)
    agent.py build PLAN                   build (or find) the environment PLAN (JSON) names; print its python

`launch` reads `RUN_DIR/launch.json` (written by the client: environment key, requirement files, runtime
folder, environment variables for the runner). It beats the run's heartbeat while it builds the environment
with uv (cached under `ENVS/KEY`, published by a `ready` file written last) and then replaces itself with
`python -m nblift.target.runner` in that environment, keeping its process id and group.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

MAX_EVENT_BYTES = 4 << 20
#: The last lines of uv's error output that a failed environment build carries home, and their length.
ERROR_LINES = 6
MAX_ERROR = 2000


def _start(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def missing(objects: str) -> None:
    root = Path(objects)
    for oid in sys.stdin.read().split():
        if not (root / oid[:2] / oid[2:]).is_file():
            print(oid)


def poll(run_dir: str, offset: str, pid: str, start: str) -> None:
    folder = Path(run_dir)
    events = folder / "events.jsonl"
    data = b""
    try:
        with events.open("rb") as fh:
            fh.seek(int(offset))
            data = fh.read(MAX_EVENT_BYTES)
        data = data[: data.rfind(b"\n") + 1]  # whole lines only
    except OSError:
        pass
    try:
        heartbeat_age = time.time() - (folder / "heartbeat").stat().st_mtime
    except OSError:
        heartbeat_age = None
    now_start = _start(int(pid))
    reply = {
        "state": _read_json(folder / "state.json"),
        "mlflow": _read_json(folder / "mlflow.json"),
        "heartbeat_age": heartbeat_age,
        "events": base64.b64encode(data).decode(),
        "offset": int(offset) + len(data),
        "alive": now_start is not None and (start in ("", "None") or now_start == int(start)),
    }
    print(json.dumps(reply))


def _beat(folder: Path, stop: threading.Event) -> None:
    path = folder / "heartbeat"
    while not stop.is_set():
        path.touch()
        os.utime(path)
        stop.wait(1.0)


class BuildError(Exception):
    """A uv command failed; the message holds uv's own reason (the end of its error output)."""


def _uv(command: list[str], log: Any) -> None:
    """Run one uv command, its output in the log; a failure raises BuildError with uv's reason."""
    done = subprocess.run(command, stdout=log, stderr=subprocess.PIPE, text=True, check=False)
    log.write(done.stderr)
    log.flush()
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = " / ".join(lines[-ERROR_LINES:]) or f"exit status {done.returncode}"
        verb = " ".join(word for word in command[1:3] if not word.startswith("-"))
        raise BuildError(f"`uv {verb}` failed: {reason}"[:MAX_ERROR])


def _build(env: Path, plan: dict[str, Any], log: Any) -> None:
    """The run's environment: a venv made by uv from the lock plus what the runner needs."""
    if (env / "ready").is_file():
        print(f"environment {env.name}: cached", file=log, flush=True)
        return
    print(f"environment {env.name}: building with uv", file=log, flush=True)
    uv, python = plan["uv"], plan["python"]
    offline = ["--offline"] if plan.get("offline") else []
    _uv([uv, "venv", "--quiet", "--allow-existing", "--python", python, str(env)], log)
    target = ["--python", str(env / "bin" / "python"), *offline]
    # the lock's requirements are chosen among its indexes as they were when it was resolved
    strategy = ["--index-strategy", plan["index_strategy"]] if plan.get("index_strategy") else []
    for requirements in plan.get("requirements", []):
        _uv([uv, "pip", "install", "--quiet", *target, *strategy, "-r", requirements], log)
    if plan.get("packages"):
        _uv([uv, "pip", "install", "--quiet", *target, *plan["packages"]], log)
    (env / "ready").write_text(str(time.time()))


def _read_plan(plan_file: Path) -> dict[str, Any]:
    """A plan (JSON); its relative paths are relative to the folder above the plan's own (an exported task's
    folder, wherever a launcher puts it), and `~` is this user's home."""
    plan = json.loads(plan_file.read_text())
    base = plan_file.resolve().parent.parent

    def where(path: str) -> str:
        return str(base / Path(path).expanduser())  # an absolute path stays as it is

    for key in ("env", "runtime", "store"):
        if key in plan:
            plan[key] = where(plan[key])
    plan["requirements"] = [where(p) for p in plan.get("requirements", [])]
    return plan


def launch(run_dir: str) -> None:
    folder = Path(run_dir)
    plan = _read_plan(folder / "launch.json")
    env = Path(plan["env"])
    stop = threading.Event()
    beater = threading.Thread(target=_beat, args=(folder, stop), daemon=True)
    beater.start()
    with (folder / "runner.log").open("a") as log:
        try:
            _build(env, plan, log)
        except (OSError, BuildError) as exc:
            message = f"could not build the run's environment: {exc} (all of it in runner.log on the host)"
            error = {"message": message}
            (folder / "state.json").write_text(
                json.dumps({"state": "FAILED", "finished": time.time(), "error": error})
            )
            line = json.dumps({"t": time.time(), "kind": "run.finished", "state": "FAILED", "error": error})
            with (folder / "events.jsonl").open("a") as events:
                events.write(line + "\n")
            print(message, file=log, flush=True)
            sys.exit(1)
    stop.set()
    beater.join()
    python = str(env / "bin" / "python")
    environ = {**os.environ, **plan.get("environ", {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [plan["runtime"], environ.get("PYTHONPATH", "")]))
    runner = [python, "-m", "nblift.target.runner", str(folder), "--store", plan["store"]]
    os.execve(python, runner, environ)  # noqa: S606 - become the runner: same pid, same process group


def build(plan_file: str) -> None:
    """The environment a plan names, built as a run's is (a moved kernel runs in it); its python on stdout,
    uv's reason on stderr and exit status 1 when the build fails."""
    plan = _read_plan(Path(plan_file))
    env = Path(plan["env"])
    with Path(plan_file + ".log").open("a") as log:
        try:
            _build(env, plan, log)
        except (OSError, BuildError) as exc:
            print(f"could not build the environment: {exc}", file=sys.stderr)
            sys.exit(1)
    print(env / "bin" / "python")


def send(pgid: str, name: str) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(pgid), getattr(signal, name))


def main(argv: list[str]) -> None:
    verb, args = argv[0], argv[1:]
    if verb == "missing":
        missing(*args)
    elif verb == "poll":
        poll(*args)
    elif verb == "launch":
        launch(*args)
    elif verb == "start":
        print(_start(int(args[0])))
    elif verb == "signal":
        send(*args)
    elif verb == "build":
        build(*args)
    else:
        raise SystemExit(f"unknown verb {verb!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

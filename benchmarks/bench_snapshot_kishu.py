"""Automatic checkpoints: nblift beside Kishu (PyPI `kishu`, "Intelligent Python Checkpointing"), one run.

Same workload as bench_snapshot.py (its SETUP and SMALL_CELLS are imported from that file): a 200 MB
float64 array, a 1M-row DataFrame (int, float, categorical, string columns), a few small objects; then
five cells that each change one small variable. Every cell runs in a real Jupyter kernel (jupyter_client,
`python -m ipykernel_launcher`) beside a notebook file written with nbformat; each tool checkpoints
automatically after every cell:

  nblift  `%load_ext nblift` + `%lift autosnapshot on` (kernel from .venv, PYTHONPATH=python): after each
          cell the post_run_cell hook forks and the child writes the snapshot (the default, background).
  Kishu   `from kishu import init_kishu; init_kishu("<notebook>")` (kernel from its own virtualenv): its
          post_run_cell hook commits after each cell, in the kernel, before the cell returns.

Kishu runs in ~/.cache/nblift-bench/kishu-venv (made with `uv venv` + `uv pip install`, numpy, pandas,
pyarrow, ipykernel and ipython pinned to .venv's versions); it is never installed into .venv. Nothing of
Kishu is patched. Kishu's own `JUPYTERINT.test_mode` setting is turned on (in a private KISHU_PATH_ROOT):
without a browser its "save the notebook" step (Javascript, then polling the file's mtime) can only time
out, ~5 s per checkout; the setting skips that step and the page reload, nothing else.

Measured, per tool: the cost added to the setup cell and to each small cell, both as the time spent in the
tool's pre/post_run_cell hooks (probe hooks registered before and after them) and as wall time (client
side, execute request to reply) against a plain kernel of the same virtualenv (for the one setup cell:
wall time minus the cell body, since the body alone varies more than the hooks cost); the time until the
checkpoint is on disk (nblift: the forked writer's own clock from the snapshot's start; Kishu: its
hooks); bytes written (nblift: the project's .nblift folder; Kishu: all it adds beside the notebook, i.e.
<notebook>.kishudb, and its KISHU_PATH_ROOT/.kishu); restoring the first checkpoint (the one after the
setup cell) into the same kernel (`%lift restore ID` / `_kishu.checkout(ID)`, which is what `kishu
checkout` runs in the kernel) and into a fresh kernel. If Kishu cannot run, the reason is printed and
the nblift side still runs (exit status 0).

    .venv/bin/python benchmarks/bench_snapshot_kishu.py [--rows 1000000] [--mb 200] [--kishu-venv PATH]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path.home() / ".cache" / "nblift-bench" / "kishu-venv"
PINNED = ["numpy", "pandas", "pyarrow", "ipykernel", "ipython"]
KISHU_PACKAGES = ["kishu", "ipykernel", "nbclient", "numpy", "pandas", "pyarrow"]
CHECK = (
    "import importlib.metadata, importlib.util, ipykernel, numpy, pandas, pyarrow; "
    "assert importlib.util.find_spec('kishu'), 'kishu is not installed'; "
    "print(importlib.metadata.version('kishu'))"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Loaded into every kernel (stdlib only). Hooks registered before the tool's hooks and after them bracket
# the tool's own work; helpers time restores in the kernel and leave no names in the user's namespace.
PROBE = """
import json, time


class Probe:
    def __init__(self):
        self.marks = {}
        self.last = {}
        self.timed = {}

    def pre_first(self, info=None):
        self.marks = {"pre_first": time.perf_counter()}

    def pre_last(self, info=None):
        self.marks["pre_last"] = time.perf_counter()

    def post_first(self, result=None):
        self.marks["post_first"] = time.perf_counter()

    def post_last(self, result=None):
        m = self.marks
        m["post_last"] = time.perf_counter()
        self.last = {
            "body": m["post_first"] - m["pre_last"],
            "hooks": (m["pre_last"] - m["pre_first"]) + (m["post_last"] - m["post_first"]),
        }


def install_first(shell):
    probe = Probe()
    shell._bench_probe = probe
    shell.events.register("pre_run_cell", probe.pre_first)
    shell.events.register("post_run_cell", probe.post_first)


def install_last(shell):
    probe = shell._bench_probe
    shell.events.register("pre_run_cell", probe.pre_last)
    shell.events.register("post_run_cell", probe.post_last)


def start(shell):
    shell._bench_probe.t0 = time.perf_counter()


def stop(shell, label, touch=False):
    if touch:  # use the data the way a first cell after the restore would
        ns = shell.user_ns
        float(ns["big"][:10].sum()) + len(ns["df"])
    shell._bench_probe.timed[label] = time.perf_counter() - shell._bench_probe.t0


def state(shell):
    ns = shell.user_ns
    return {
        "step": ns.get("step"),
        "lr": ns["config"]["lr"] if "config" in ns else None,
        "labels": len(ns["labels"]) if "labels" in ns else None,
        "big": len(ns["big"]) if "big" in ns else None,
        "df": len(ns["df"]) if "df" in ns else None,
        "note": "note" in ns,
    }


def collect_nblift(shell):
    snap = shell._nblift_snapshotter
    pending = snap.pending
    result = snap.collect(wait=True)
    shell._bench_probe.snapshot = None if result is None else {
        "id": result.id, "seconds": result.seconds, "new_bytes": result.new_bytes, "pending": pending,
    }


def kishu_head(shell):
    return shell.user_ns["_kishu"]._kishu_branch.get_head().commit_id


def kishu_plan(shell, commit_id):
    kishu = shell.user_ns["_kishu"]
    plan = kishu._cr_planner.generate_incremental_restore_plan(kishu.database_path(), commit_id)
    kinds = {}
    for action in plan.actions.values():
        kinds[type(action).__name__] = kinds.get(type(action).__name__, 0) + 1
    return json.dumps(kinds)


def dump(shell, extra=None):
    probe = shell._bench_probe
    return json.dumps({
        "last": probe.last,
        "timed": probe.timed,
        "snapshot": getattr(probe, "snapshot", None),
        "state": state(shell),
        "extra": extra,
    })
"""

P = "__import__('nblift_bench_probe')"


class BenchError(RuntimeError):
    pass


def workload() -> tuple[str, list[str]]:
    """SETUP and SMALL_CELLS of bench_snapshot.py, so both benchmarks run the very same cells."""
    spec = importlib.util.spec_from_file_location(
        "bench_snapshot", Path(__file__).with_name("bench_snapshot.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SETUP, list(module.SMALL_CELLS)


def folder_bytes(path: Path, skip: tuple[Path, ...] = ()) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p not in skip)


class Kernel:
    """One IPython kernel of a given interpreter, driven over ZMQ like a notebook frontend drives it."""

    def __init__(self, name: str, python: Path, env: dict[str, str], cwd: Path, runtime: Path) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        specs = runtime / "specs"
        (specs / name).mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
        }
        (specs / name / "kernel.json").write_text(json.dumps(spec))
        self.name = name
        self.km = KernelManager(
            kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
        )
        self.km.shutdown_wait_time = 10.0
        # Named like Jupyter names them: Kishu takes the kernel id from "kernel-<id>.json".
        self.km.connection_file = str(runtime / f"kernel-{uuid.uuid4()}.json")
        self.kc = None
        self.log = runtime / f"{name}.log"
        with self.log.open("w") as log:  # the kernel's own stdout/stderr (shown when something fails)
            self.km.start_kernel(env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=120)
        except RuntimeError as exc:
            self.close()
            raise BenchError(f"{name}: the kernel did not start: {exc}{self.log_tail()}") from exc

    def run(
        self, code: str, *, silent: bool = False, expr: str | None = None, timeout: float = 600
    ) -> tuple[float, Any, str]:
        """Execute `code`; return (wall seconds, the JSON value of `expr`, the text it printed)."""
        assert self.kc is not None
        out: list[str] = []

        def hook(msg: dict) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("\n".join(content["traceback"]) + "\n")
            elif kind in {"execute_result", "display_data"}:
                out.append(content["data"].get("text/plain", "") + "\n")

        start = time.perf_counter()
        try:
            reply = self.kc.execute_interactive(
                code,
                silent=silent,
                store_history=not silent,
                user_expressions={"r": expr} if expr else None,
                timeout=timeout,
                output_hook=hook,
            )
        except TimeoutError as exc:
            raise BenchError(
                f"{self.name}: no reply within {timeout:.0f} s to {code[:60]!r}{self.log_tail()}"
            ) from exc
        wall = time.perf_counter() - start
        text = ANSI.sub("", "".join(out))
        content = reply["content"]
        if content["status"] != "ok":
            raise BenchError(
                f"{self.name}: {content.get('ename')}: {content.get('evalue')}\n{text[-4000:]}".rstrip()
                + self.log_tail()
            )
        value = None
        if expr:
            result = content["user_expressions"]["r"]
            if result["status"] != "ok":
                tb = ANSI.sub("", "\n".join(result.get("traceback", [])))
                raise BenchError(f"{self.name}: {result.get('ename')}: {result.get('evalue')}\n{tb[-4000:]}")
            value = json.loads(ast.literal_eval(result["data"]["text/plain"]))
        return wall, value, text

    def log_tail(self) -> str:
        lines = [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if "running over TCP without encryption" not in line
        ]
        return ("\nkernel log:\n" + "\n".join(lines[-30:])) if lines else ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.kc is not None:
                self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=False)
        with contextlib.suppress(Exception):
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)


def base_env(work: Path, notebook: Path) -> dict[str, str]:
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JPY_SESSION_NAME", "KISHU_PATH_ROOT"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        IPYTHONDIR=str(work / "ipython"),  # a private history.sqlite, not ~/.ipython
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JPY_SESSION_NAME=str(notebook),  # what Jupyter sets for a notebook's kernel
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def probe_cell(probe_dir: Path) -> str:
    # numpy and pandas are imported (no name bound) in every kernel before anything is timed: Kishu imports
    # pandas itself, and the setup cell must not be cheaper in one kernel only because pandas is loaded.
    return (
        f"__import__('sys').path.insert(0, {str(probe_dir)!r}); {P}.install_first(get_ipython()); "
        "__import__('numpy'); __import__('pandas')"
    )


# -- the Kishu virtualenv -------------------------------------------------------------------------------
def find_uv() -> str | None:
    local = ROOT / ".venv" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def kishu_python(venv: Path) -> tuple[Path | None, str]:
    """The Kishu virtualenv's python (created or updated here), or None and why not."""
    python = venv / "bin" / "python"
    uv = find_uv()
    pins = []
    for name in PINNED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            pins.append(f"{name}=={importlib.metadata.version(name)}")
    pinned = {p.split("==")[0] for p in pins}
    wanted = [p for p in KISHU_PACKAGES if p not in pinned] + pins
    log = ""
    if uv is None:
        log = "uv not found (neither .venv/bin/uv nor on PATH)"
    else:
        try:
            if not python.exists():
                base = (
                    Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                )
                interp = str(base) if base.exists() else f"{sys.version_info.major}.{sys.version_info.minor}"
                venv.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    [uv, "venv", "--quiet", "--python", interp, str(venv)],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            subprocess.run(
                [uv, "pip", "install", "--quiet", "--python", str(python), *wanted],
                check=True,
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.CalledProcessError as exc:
            why = (exc.stderr or exc.stdout or "").strip()[-2000:]
            log = f"`{' '.join(exc.cmd)}` failed ({exc.returncode}): {why}"
        except subprocess.TimeoutExpired as exc:
            log = f"`{' '.join(exc.cmd)}` did not finish within {exc.timeout:.0f} s"
    if not python.exists():
        return None, log or f"{python} missing"
    check = subprocess.run(
        # importing kishu would create ~/.kishu (its config folder), so only look it up here
        [str(python), "-c", CHECK],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check.returncode != 0:
        return None, (log + "\n" if log else "") + check.stderr.strip()[-2000:]
    if log:
        print(f"note: the Kishu virtualenv was not updated ({log}); using it as it is")
    return python, check.stdout.strip()


# -- one session: plain, nblift or Kishu ------------------------------------------------------------------
def run_session(
    tool: str,
    python: Path,
    env: dict[str, str],
    project: Path,
    notebook: Path,
    runtime: Path,
    probe_dir: Path,
    setup: str,
    small: list[str],
    timeout: float,
    size: tuple[Path, ...] | None = None,
) -> dict[str, Any]:
    """Run the workload in a fresh kernel with `tool` ("plain", "nblift", "kishu") checkpointing it."""
    out: dict[str, Any] = {"tool": tool, "small": [], "warnings": []}
    kernel = Kernel(f"bench-{tool}-{uuid.uuid4().hex[:6]}", python, env, project, runtime)
    try:
        kernel.run(probe_cell(probe_dir), silent=True)
        if tool == "nblift":
            code = (
                f"{P}.start(get_ipython())\n"
                "get_ipython().run_line_magic('load_ext', 'nblift')\n"
                f"{P}.install_last(get_ipython())\n"
                "get_ipython().run_line_magic('lift', 'autosnapshot on')\n"
                f"{P}.stop(get_ipython(), 'attach')"
            )
        elif tool == "kishu":
            # What `kishu init <notebook>` runs in the kernel (silent: no hooks for this cell itself).
            code = (
                f"{P}.start(get_ipython())\n"
                f"from kishu import init_kishu; init_kishu({str(notebook)!r})\n"
                f"{P}.stop(get_ipython(), 'attach')\n"
                f"{P}.install_last(get_ipython())"
            )
        else:
            code = f"{P}.install_last(get_ipython())"
        _, info, text = kernel.run(code, silent=True, expr=f"{P}.dump(get_ipython())", timeout=timeout)
        out["attach"] = info["timed"].get("attach")
        if text.strip():
            out["warnings"].append(f"attach printed: {text.strip()[:300]}")

        def cell(source: str) -> dict[str, Any]:
            wall, _, text = kernel.run(source, timeout=timeout)
            if "Error in callback" in text or "snapshot failed" in text or "Traceback" in text:
                raise BenchError(
                    f"{tool}: the checkpoint after {source[:40]!r} failed:\n{text[-4000:]}{kernel.log_tail()}"
                )
            rec: dict[str, Any] = {"wall": wall}
            if tool == "nblift":  # wait for the forked writer: the time until the snapshot is on disk
                t_wait, _, _ = kernel.run(f"{P}.collect_nblift(get_ipython())", silent=True, timeout=timeout)
                rec["wait"] = t_wait
            extra = f"{P}.kishu_head(get_ipython())" if tool == "kishu" else "None"
            _, info, _ = kernel.run("", silent=True, expr=f"{P}.dump(get_ipython(), {extra})")
            rec.update(info["last"])
            rec["snapshot"] = info["snapshot"]
            rec["commit"] = info["extra"]
            if tool == "nblift" and info["snapshot"] is None:
                raise BenchError(f"nblift took no snapshot after {source[:40]!r}")
            if size is not None:
                rec["bytes"] = sum(folder_bytes(p, skip=(notebook,)) for p in size)
            return rec

        out["setup"] = cell(setup)
        for source in small:
            out["small"].append(cell(source))
        out["state_end"] = kernel.run("", silent=True, expr=f"{P}.dump(get_ipython())")[1]["state"]
        if tool == "plain":
            return out

        # restore the checkpoint taken after the setup cell, into this same kernel
        first = out["setup"]["snapshot"]["id"] if tool == "nblift" else out["setup"]["commit"]
        out["first"] = first
        if tool == "nblift":
            for label, flag in (("restore_lazy", ""), ("restore_eager", " --eager")):
                code = (
                    f"{P}.start(get_ipython())\n"
                    f"get_ipython().run_line_magic('lift', 'restore {first}{flag}')\n"
                    f"{P}.stop(get_ipython(), {label!r}, touch=True)"
                )
                _, info, _ = kernel.run(code, silent=True, expr=f"{P}.dump(get_ipython())", timeout=timeout)
                out[label] = info["timed"][label]
                out[f"{label}_state"] = info["state"]
        else:
            _, plan, _ = kernel.run("", silent=True, expr=f"{P}.kishu_plan(get_ipython(), {first!r})")
            out["restore_plan"] = plan
            # What `kishu checkout <notebook> <commit>` runs in the kernel.
            code = (
                f"{P}.start(get_ipython())\n"
                f"_kishu.checkout({first!r}, skip_notebook=False)\n"
                f"{P}.stop(get_ipython(), 'restore_lazy', touch=True)"
            )
            _, info, _ = kernel.run(code, silent=True, expr=f"{P}.dump(get_ipython())", timeout=timeout)
            out["restore_lazy"] = info["timed"]["restore_lazy"]
            out["restore_lazy_state"] = info["state"]
        return out
    finally:
        kernel.close()


def restore_fresh(
    tool: str,
    python: Path,
    env: dict[str, str],
    project: Path,
    notebook: Path,
    runtime: Path,
    probe_dir: Path,
    first: str,
    eager: bool,
    timeout: float,
) -> dict[str, Any]:
    """Restore the first checkpoint into a new kernel (numpy and pandas already imported, not timed)."""
    kernel = Kernel(f"bench-{tool}-fresh-{uuid.uuid4().hex[:6]}", python, env, project, runtime)
    try:
        kernel.run(probe_cell(probe_dir), silent=True)
        if tool == "nblift":
            attach = "get_ipython().run_line_magic('load_ext', 'nblift')"
            restore = f"get_ipython().run_line_magic('lift', 'restore {first}{' --eager' if eager else ''}')"
        else:
            attach = f"from kishu import init_kishu; init_kishu({str(notebook)!r})"
            restore = f"_kishu.checkout({first!r}, skip_notebook=False)"
        kernel.run(attach, silent=True, timeout=timeout)
        plan = None
        if tool == "kishu":
            plan = kernel.run("", silent=True, expr=f"{P}.kishu_plan(get_ipython(), {first!r})")[1]
        code = f"{P}.start(get_ipython())\n{restore}\n{P}.stop(get_ipython(), 'fresh', touch=True)"
        _, info, _ = kernel.run(code, silent=True, expr=f"{P}.dump(get_ipython())", timeout=timeout)
        return {"seconds": info["timed"]["fresh"], "state": info["state"], "plan": plan}
    finally:
        kernel.close()


# -- report ----------------------------------------------------------------------------------------------
def fmt(value: float | None, width: int = 10, digits: int = 3) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def row(label: str, ours: float | None, theirs: float | None, digits: int = 3) -> None:
    # a ratio of two differences near zero (or below it) means nothing: shown as "-"
    ratio = "n/a" if ours is None or theirs is None else "-"
    if ours is not None and theirs is not None and ours > 0 and theirs > 0:
        ratio = f"{theirs / ours:.1f}x"
    print(f"{label:50} {fmt(ours, digits=digits)} {fmt(theirs, digits=digits)} {ratio:>12}")


def med(values: list[float]) -> float:
    return statistics.median(values)


def summarize(session: dict[str, Any], plain: dict[str, Any], tool: str) -> dict[str, float | None]:
    setup, small = session["setup"], session["small"]
    if tool == "nblift":  # the forked child's own clock: from the snapshot's start until it is on disk
        durable = [c["snapshot"]["seconds"] for c in [setup, *small]]
    else:
        durable = [c["hooks"] for c in [setup, *small]]
    added_wall = [c["wall"] - p["wall"] for c, p in zip(small, plain["small"], strict=True)]
    sizes = [setup["bytes"]] + [c["bytes"] for c in small]
    new = [b - a for a, b in itertools.pairwise(sizes)]
    return {
        "attach": session.get("attach"),
        "setup_hooks": setup["hooks"],
        # one sample each, and the body alone (random numbers, 1M strings) varies by +-0.5 s on a busy
        # machine: compare what the cell costs outside its body (hooks, kernel, reply) instead
        "setup_wall_added": (setup["wall"] - setup["body"])
        - (plain["setup"]["wall"] - plain["setup"]["body"]),
        "setup_durable": durable[0],
        "setup_bytes": setup["bytes"] / 1e6,
        "small_hooks": med([c["hooks"] for c in small]) * 1000,
        "small_wall_added": med(added_wall) * 1000,
        "small_durable": med(durable[1:]) * 1000,
        "small_bytes_max": max(new) / 1024,
        "small_bytes_med": med(new) / 1024,
        "total_bytes": small[-1]["bytes"] / 1e6,
        "restore_same": session.get("restore_lazy"),
        "restore_same_eager": session.get("restore_eager"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--kishu-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-kishu", action="store_true", help="run only the nblift side")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for any one cell")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = parser.parse_args()

    setup_tpl, small = workload()
    setup = setup_tpl.format(n_floats=args.mb * 1024 * 1024 // 8, rows=args.rows)
    work = Path(tempfile.mkdtemp(prefix="nblift-kishu-bench-"))
    runtime = work / "runtime"
    runtime.mkdir()
    probe_dir = work / "probe"
    probe_dir.mkdir()
    (probe_dir / "nblift_bench_probe.py").write_text(PROBE)
    results: dict[str, Any] = {}
    kishu_error: str | None = None
    kishu_version = ""
    try:
        # -- Kishu --------------------------------------------------------------------------------------
        if args.skip_kishu:
            kishu_error = "skipped (--skip-kishu)"
        else:
            kpython, kishu_version = kishu_python(args.kishu_venv)
            if kpython is None:
                kishu_error = f"the Kishu virtualenv could not be made: {kishu_version}"
            else:
                try:
                    kproject = work / "kishu"
                    knb = kproject / "analysis.ipynb"
                    write_notebook(knb, [setup, *small])
                    kroot = work / "kishu-root"
                    (kroot / ".kishu").mkdir(parents=True)
                    (kroot / ".kishu" / "config.ini").write_text("[JUPYTERINT]\ntest_mode = True\n")
                    kenv = base_env(work, knb)
                    kenv.update(
                        KISHU_PATH_ROOT=str(kroot),
                        VIRTUAL_ENV=str(args.kishu_venv),
                        PATH=f"{args.kishu_venv / 'bin'}{os.pathsep}{kenv.get('PATH', '')}",
                    )
                    common = (kpython, kenv, kproject, knb, runtime, probe_dir)
                    results["kishu_plain"] = run_session("plain", *common, setup, small, args.timeout)
                    results["kishu"] = run_session(
                        "kishu", *common, setup, small, args.timeout, size=(kproject, kroot / ".kishu")
                    )
                    results["kishu_files"] = sorted(
                        (str(p.relative_to(work)), p.stat().st_size)
                        for base in (kproject, kroot)
                        for p in base.rglob("*")
                        if p.is_file() and p != knb
                    )
                    results["kishu_fresh"] = restore_fresh(
                        "kishu", *common, results["kishu"]["first"], False, args.timeout
                    )
                except Exception as exc:  # noqa: BLE001 - Kishu failing is a result to report, not a crash
                    detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
                    kishu_error = f"{type(exc).__name__}: {detail}"

        # -- nblift -------------------------------------------------------------------------------------
        nproject = work / "nblift"
        nnb = nproject / "analysis.ipynb"
        write_notebook(nnb, [setup, *small])
        nenv = base_env(work, nnb)
        nenv.update(
            PYTHONPATH=str(ROOT / "python"),
            NBLIFT_SNAPSHOT_MLFLOW="false",
            NBLIFT_SECRET_FILE=str(work / "key" / "secret"),
            VIRTUAL_ENV=str(ROOT / ".venv"),
        )
        npython = ROOT / ".venv" / "bin" / "python"
        common_n = (npython, nenv, nproject, nnb, runtime, probe_dir)
        results["nblift_plain"] = run_session("plain", *common_n, setup, small, args.timeout)
        results["nblift"] = run_session(
            "nblift", *common_n, setup, small, args.timeout, size=(nproject / ".nblift",)
        )
        first = results["nblift"]["first"]
        results["nblift_fresh"] = restore_fresh("nblift", *common_n, first, False, args.timeout)
        results["nblift_fresh_eager"] = restore_fresh("nblift", *common_n, first, True, args.timeout)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    report(args, results, kishu_error, kishu_version)


def report(
    args: argparse.Namespace, results: dict[str, Any], kishu_error: str | None, kishu_version: str
) -> None:
    n = summarize(results["nblift"], results["nblift_plain"], "nblift")
    k = summarize(results["kishu"], results["kishu_plain"], "kishu") if kishu_error is None else {}
    n["restore_fresh"] = results["nblift_fresh"]["seconds"]
    n["restore_fresh_eager"] = results["nblift_fresh_eager"]["seconds"]
    if kishu_error is None:
        k["restore_fresh"] = results["kishu_fresh"]["seconds"]
    print(
        f"namespace: {args.mb} MB float64 array, {args.rows:,}-row DataFrame (int, float, categorical, str)"
    )
    print(
        "nblift: %lift autosnapshot on (forks; the child writes); Kishu "
        + (kishu_version or "")
        + ": init_kishu"
    )
    if kishu_error is not None:
        print(f"Kishu did not run: {kishu_error}")
    print(f"{'measure':50} {'nblift':>10} {'kishu':>10} {'kishu/nblift':>12}")
    rows = [
        ("attach: load_ext+autosnapshot on / init_kishu (s)", "attach", 3),
        ("setup cell: time in the tool's hooks (s)", "setup_hooks", 3),
        ("setup cell: wall beyond body, added vs plain (s)", "setup_wall_added", 3),
        ("setup cell: checkpoint on disk after (s)", "setup_durable", 3),
        ("bytes written by the setup checkpoint (MB)", "setup_bytes", 2),
        ("small cell: time in the tool's hooks (ms, median)", "small_hooks", 2),
        ("small cell: wall added vs plain (ms, median)", "small_wall_added", 2),
        ("small cell: checkpoint on disk after (ms, median)", "small_durable", 2),
        ("new bytes per small cell (KB, median)", "small_bytes_med", 1),
        ("new bytes per small cell (KB, max)", "small_bytes_max", 1),
        ("storage after all 6 checkpoints (MB)", "total_bytes", 2),
        ("restore first checkpoint, same kernel (s)", "restore_same", 3),
        ("restore first checkpoint, fresh kernel (s)", "restore_fresh", 3),
    ]
    for label, key, digits in rows:
        row(label, n.get(key), k.get(key), digits)
    print(
        f"nblift --eager restore (reads arrays now): same kernel {n['restore_same_eager']:.3f} s, "
        f"fresh kernel {n['restore_fresh_eager']:.3f} s"
    )
    for name in ("nblift_plain", "nblift", "kishu_plain", "kishu"):
        if name in results:
            run = results[name]
            kind = "plain kernel" if name.endswith("_plain") else "with the tool"
            print(
                f"{name.split('_')[0]} venv, {kind}: setup cell {run['setup']['wall']:.3f} s wall "
                f"({run['setup']['body']:.3f} s between the hooks); small cell "
                f"{med([c['wall'] for c in run['small']]) * 1000:.2f} ms wall "
                f"({med([c['body'] for c in run['small']]) * 1000:.2f} ms between the hooks), medians"
            )
    if kishu_error is None:
        kishu = results["kishu"]
        print(f"Kishu storage: {', '.join(f'{p} ({s / 1e6:.2f} MB)' for p, s in results['kishu_files'])}")
        print(
            f"Kishu restore plans: same kernel {kishu['restore_plan']}, fresh kernel "
            f"{results['kishu_fresh']['plan']}"
        )
        for label, st in (
            ("same kernel", kishu["restore_lazy_state"]),
            ("fresh", results["kishu_fresh"]["state"]),
        ):
            print(f"Kishu state after checkout ({label}): {st}")
    for name in ("nblift", "kishu"):
        for warning in results.get(name, {}).get("warnings", []):
            print(f"{name}: {warning}")
    print(f"nblift state after restore (same kernel): {results['nblift']['restore_lazy_state']}")
    print("  (nblift's restore sets the snapshot's variables and leaves names made later, `note`, in place)")
    print(f"nblift state after restore (fresh kernel): {results['nblift_fresh']['state']}")


if __name__ == "__main__":
    main()

"""Checkpoints that let a run survive preemption: taken between cells when the runner is told to stop
(SIGUSR1, sent by nblift.target.k8s_job when its pod gets SIGTERM from an eviction or a node going away),
restored by the next runner of the same run, which continues from the next cell.

A checkpoint is an nblift snapshot of the kernel (every variable, taken with `full=True`) in a project of its
own inside the run folder (`checkpoint/`, its objects under `checkpoint/.nblift`), plus `checkpoint.json`:
the snapshot's id, the first cell still to run, the cells already run with their outputs, how long the run
had been going and which run took it. The snapshot is signed with the signing key of the kernel's
environment (on Kubernetes a key made for the run, `NBLIFT_SECRET_FILE`, kept in the run's record so that
`nblift run --resume` can verify it too), so a retried pod restores only what this run wrote.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "checkpoint.json"
KEY_FILE = "checkpoint.key"
#: The runner's exit status after it checkpointed and stopped (EX_TEMPFAIL): run it again to go on.
PREEMPTED_EXIT = 75
#: Longest a snapshot or a restore in the kernel may take.
KERNEL_CALL_S = 600.0
RESUMED_KEY = "nblift_resumed"

#: Set by the runner's SIGUSR1 handler: checkpoint after the cell that runs now, then stop.
requested = threading.Event()


class Preempted(BaseException):
    """Raised once the checkpoint is written: the runner ends without a terminal state."""


class CheckpointError(Exception):
    """The kernel could not snapshot or restore (its message says why)."""


@dataclasses.dataclass(frozen=True)
class Resume:
    """What the last runner of this run left: resume from cell `next_index` with snapshot `sid`."""

    sid: str
    next_index: int
    cells: list[dict[str, Any]]
    elapsed: float
    taken: float
    cell: int | None  # the last completed cell's number in the user's notebook
    modules: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> module imported as it
    run_id: str = ""  # the run whose runner took it ("": one written before runs said so)

    def same_run(self, run_id: str) -> bool:
        """Taken by an earlier runner of run `run_id` (a retried pod), not by the run `--resume` continues."""
        return self.run_id in ("", run_id)

    @classmethod
    def load(cls, run_dir: Path) -> Resume | None:
        path = run_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(
            sid=str(data["sid"]),
            next_index=int(data["next_index"]),
            cells=list(data["cells"]),
            elapsed=float(data.get("elapsed", 0.0)),
            taken=float(data.get("taken", 0.0)),
            cell=data.get("cell"),
            modules=dict(data.get("modules") or {}),
            run_id=str(data.get("run_id") or ""),
        )


_TAKE = """
def _nblift_checkpoint(root):
    import json
    from pathlib import Path
    from nblift.project import Project
    from nblift.settings import load_settings
    from nblift.snapshot.verbs import snapshotter
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    snap = snapshotter(get_ipython())
    snap.bind(Project(root=root, settings=load_settings(root)))
    import types
    sid = snap.snapshot("checkpoint before preemption", full=True).id
    modules = {name: value.__name__ for name, value in get_ipython().user_ns.items()
               if isinstance(value, types.ModuleType) and not name.startswith("_")}
    print("NBLIFT-CHECKPOINT " + json.dumps({"sid": sid, "modules": modules}))
_nblift_checkpoint(ROOT)
del _nblift_checkpoint
"""

_RESTORE = """
def _nblift_restore(root, sid, modules):
    import importlib
    import json
    from pathlib import Path
    from nblift.project import Project
    from nblift.settings import load_settings
    from nblift.snapshot.verbs import snapshotter
    root = Path(root)
    snap = snapshotter(get_ipython())
    snap.bind(Project(root=root, settings=load_settings(root)))
    result = snap.restore(sid, lazy=False)
    for name, module in modules.items():  # imports are not variables a snapshot holds: imported again
        get_ipython().user_ns[name] = importlib.import_module(module)
    print("NBLIFT-CHECKPOINT " + json.dumps(sorted(result.to_json().get("restored", []))))
_nblift_restore(ROOT, SID, MODULES)
del _nblift_restore
"""


def _filled(code: str, **values: Any) -> str:
    """`code` with its last line's upper-case names replaced by the values' reprs."""
    head, _, call = code.rstrip().rpartition("\n")
    head, _, tail = head.rpartition("\n")
    for name, value in values.items():
        tail = tail.replace(name, repr(value))
    return f"{head}\n{tail}\n{call}\n"


def _in_kernel(client: Any, code: str) -> Any:
    """Run `code` in the client's kernel, out of the notebook and its history; its marked line's JSON."""
    from jupyter_core.utils import run_sync

    seen: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg.get("content") or {}
        if msg.get("msg_type") == "stream":
            seen.append(content.get("text", ""))
        elif msg.get("msg_type") == "error":
            seen.append(f"\n{content.get('ename')}: {content.get('evalue')}\n")

    reply = run_sync(client.kc.execute_interactive)(
        code, store_history=False, allow_stdin=False, timeout=KERNEL_CALL_S, output_hook=hook
    )
    text = "".join(seen)
    if (reply.get("content") or {}).get("status") != "ok":
        raise CheckpointError(text.strip() or "the kernel refused")
    for line in text.splitlines():
        if line.startswith("NBLIFT-CHECKPOINT "):
            return json.loads(line.split(" ", 1)[1])
    raise CheckpointError(f"the kernel gave no answer: {text.strip()[:300]}")


class Checkpointer:
    """The engine's side: take a checkpoint after a cell once asked, restore one before the first cell."""

    def __init__(self, run_dir: Path, started: float, resume: Resume | None, run_id: str = "") -> None:
        self.root = run_dir / CHECKPOINT_DIR
        self.started = started
        self.resume = resume
        self.run_id = run_id
        #: What earlier runners of this same run used (a resumed run's own time starts at zero).
        self.spent = resume.elapsed if resume is not None and resume.same_run(run_id) else 0.0

    @property
    def elapsed(self) -> float:
        return self.spent + time.time() - self.started

    def restore(self, client: Any) -> list[str]:
        assert self.resume is not None
        code = _filled(_RESTORE, ROOT=str(self.root), SID=self.resume.sid, MODULES=self.resume.modules)
        return list(_in_kernel(client, code))

    def after_cell(self, client: Any, index: int, cell: int | None) -> None:
        """Checkpoint and stop (Preempted) when asked to; otherwise nothing."""
        if not requested.is_set():
            return
        try:
            taken = _in_kernel(client, _filled(_TAKE, ROOT=str(self.root)))
        except CheckpointError as exc:  # stop all the same: the next runner starts from the last checkpoint
            print(f"nblift: no checkpoint after cell {cell}: {exc}", file=sys.stderr, flush=True)
            raise Preempted(f"stopped after cell {cell} without a checkpoint") from None
        from ..fsutil import atomic_write

        cells = [dict(c) for c in client.nb.cells[: index + 1]]
        data = {
            "sid": taken["sid"],
            "modules": taken["modules"],
            "next_index": index + 1,
            "cells": json.loads(json.dumps(cells, default=str)),
            "elapsed": self.elapsed,
            "taken": time.time(),
            "cell": cell,
            "run_id": self.run_id,
        }
        atomic_write(self.root / CHECKPOINT_FILE, json.dumps(data).encode())
        raise Preempted(f"checkpointed after cell {cell}")


def mark_resumed(executed: Path, resume: Resume, run_id: str = "") -> None:
    """Show in the executed notebook where the run resumed: a markdown note before the first cell that ran
    again, and the notebook's metadata (`from_run`: the run `--resume` continued, when it was another)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    at = min(resume.next_index, len(nb.cells))
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(resume.taken))
    done = f"cell {resume.cell}" if resume.cell else "the injected parameters"
    other = "" if resume.same_run(run_id) else resume.run_id
    stopped = f"Run {other} stopped" if other else "The run was preempted"
    went_on = "this run (`nblift run --resume`) went on" if other else "the run went on"
    note = nbformat.v4.new_markdown_cell(
        f"**nblift: resumed here.** {stopped} after {done} ({when}); the kernel's state was "
        f"restored from the checkpoint taken then, and {went_on} from the next cell."
    )
    where = {"after_cell": resume.cell, "checkpoint": resume.sid, "taken": resume.taken}
    if other:
        where["from_run"] = other
    note.metadata[RESUMED_KEY] = dict(where)
    nb.cells.insert(at, note)
    nb.metadata.setdefault("nblift", {})["resumed"] = dict(where)
    nbformat.write(nb, str(executed))

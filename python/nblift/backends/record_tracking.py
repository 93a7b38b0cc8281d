"""`python -m nblift.backends.record_tracking PROJECT RUN_ID`: record the MLflow run of a remote run that
ended, apart from whoever noticed that it ended.

A remote run on the embedded store gets its MLflow run at home once it is over: recorded from the run folder
(`runs.mlflow_close.record_from_folder`), or imported from the store the runner kept on the host. That takes
MLflow's import and a download; done where the run's end was noticed, it would hold a terminal waiting on
`nblift run --wait` for seconds and load MLflow into the notebook's kernel. So the run's record turns final
at once and this short-lived process, started detached, records the MLflow run (`mlflow.json` in the record
when done; a `tracking.error` event when it could not).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: The helper's own output (a crash of the interpreter itself), in the run's record.
LOG_FILE = "tracking.log"


#: Helpers started by this process, kept to be reaped (a long-running server starts one per remote run).
_started: list[subprocess.Popen[bytes]] = []


def start(project_root: Path, record_dir: Path, run_id: str) -> None:
    """Start the helper for run `run_id`, detached (it outlives a terminal that exits at once)."""
    _started[:] = [p for p in _started if p.poll() is None]  # reap the ones that are done
    with (record_dir / LOG_FILE).open("ab") as log:
        helper = subprocess.Popen(
            [sys.executable, "-m", __name__, str(project_root), run_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    _started.append(helper)


def main(argv: Sequence[str]) -> int:
    from ..project import Project
    from ..runs.records import RunRecord
    from ..runs.service import backend_for
    from .remote import RemoteBackend

    with contextlib.suppress(OSError):
        os.nice(10)  # bookkeeping: it yields to the notebook, the server and the next run
    root, run_id = argv
    project = Project.discover(Path(root))
    record = RunRecord.open(project.state_dir, run_id)
    handle = record.handle()
    backend = backend_for(project, handle.backend) if handle is not None else None
    if handle is None or not isinstance(backend, RemoteBackend):
        print(f"run {run_id} has no remote MLflow run to record", file=sys.stderr)
        return 1
    backend.record_tracking(handle, record.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

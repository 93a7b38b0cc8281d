"""JupyterLab server for the UI tests: galata's settings, a fresh root folder with seeded nblift state."""

import os
import tempfile
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

from nblift.project import Project
from nblift.store import ObjectStore

root = Path(tempfile.mkdtemp(prefix="nblift-ui-"))
os.environ["JUPYTERLAB_GALATA_ROOT_DIR"] = str(root)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Kernels started by this server inherit these: a throwaway signing key, no MLflow mirror (tested elsewhere).
os.environ["NBLIFT_SECRET_FILE"] = str(root.parent / f"{root.name}-key" / "snapshot_secret")
os.environ["NBLIFT_SNAPSHOT_MLFLOW"] = "false"

# Seed real state: two objects kept alive by a ref, as a snapshot would leave them.
store = ObjectStore(Project.discover(root).ensure_state_dir())
store.set_ref(
    "seed", "ui-tests", [store.put_bytes(b"first object"), store.put_bytes(b"second object" * 1000)]
)

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821

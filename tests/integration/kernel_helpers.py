"""A real IPython kernel for tests: started with jupyter_client, in a given folder and environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[2]


class Kernel:
    """Run cells in a fresh python3 kernel and read values back as JSON."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        kernel_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "python"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "NBLIFT_SNAPSHOT_MLFLOW": "false",
            **(env or {}),
        }
        self.km = KernelManager(kernel_name="python3")
        self.km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        self.km.start_kernel(cwd=str(cwd), env=kernel_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, *, allow_error: bool = False, timeout: float = 120) -> str:
        """Execute a cell; returns its printed output; raises on an error unless allow_error."""
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind = msg["header"]["msg_type"]
            content = msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                out.append("\n".join(content["traceback"]))

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        text = "".join(out)
        if reply["content"]["status"] != "ok" and not allow_error:
            raise AssertionError(f"cell failed:\n{code}\n---\n{text}")
        return text

    def value(self, expression: str) -> Any:
        """The JSON value of an expression evaluated in the kernel."""
        text = self.run(f"import json as _j; print(_j.dumps({expression}))")
        return json.loads(text.strip().splitlines()[-1])

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

"""The interpreter of a running Jupyter kernel, found from the server's kernel manager.

The panels read a kernel's environment by running a short helper process in that kernel's interpreter
(`environment.capture.capture_in`), never by typing commands into the kernel and parsing what it prints.
"""

from __future__ import annotations

import re
import shutil
import sys
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from ..environment.capture import Environment

_KERNEL_ID = re.compile(r"[0-9a-fA-F-]{8,64}")


def _spec(kernel_manager: Any, kernel_id: str) -> Any:
    if not _KERNEL_ID.fullmatch(kernel_id):
        raise InvalidInput(
            f"kernel={kernel_id[:80]!r} is not a kernel id", hint="pass the notebook's kernel id"
        )
    if kernel_id not in kernel_manager:
        raise NotFound(f"no running kernel {kernel_id}", hint="start the notebook's kernel first")
    return kernel_manager.get_kernel(kernel_id).kernel_spec


def kernel_location(kernel_manager: Any, kernel_id: str) -> dict[str, Any]:
    """Where the kernel `kernel_id` runs (`nblift.move.where`), or a 4xx saying why it cannot be told."""
    from ..move.where import of_kernel_spec

    spec = _spec(kernel_manager, kernel_id)
    where = of_kernel_spec(getattr(spec, "metadata", None))
    home = getattr(kernel_manager.get_kernel(kernel_id).provisioner, "home_kernel_id", None)
    if where["moved"] and home:  # moved back: the kernel at home that holds its state now
        where["home_kernel"] = str(home)
    return where


def kernel_python(kernel_manager: Any, kernel_id: str) -> str:
    """The Python executable the kernel `kernel_id` runs in, or a 4xx saying why there is none."""
    spec = _spec(kernel_manager, kernel_id)
    where = kernel_location(kernel_manager, kernel_id)
    if where["where"] != "home":
        raise InvalidInput(
            f"the notebook's kernel runs on {where['where']}, not here",
            hint="its environment is the one built there from the lock: `%lift env` in the notebook shows it",
        )
    if spec is None or (spec.language or "").lower() != "python" or not spec.argv:
        raise InvalidInput("the kernel is not a Python kernel", hint="nblift reads Python kernels")
    executable = str(spec.argv[0])
    # jupyter_client starts a spec's bare `python` as the server's own interpreter; do the same.
    major, minor = sys.version_info[:2]
    if executable in ("python", f"python{major}", f"python{major}.{minor}"):
        return sys.executable
    found = shutil.which(executable)
    if found is None:
        raise NotFound(f"the kernel's interpreter {executable} is not there", hint="restart the kernel")
    return found


def kernel_environment(kernel_manager: Any, kernel_id: str) -> Environment:
    """The environment of the kernel `kernel_id` (no GPU query), captured by a helper in its interpreter."""
    from ..environment.capture import capture_in

    return capture_in(kernel_python(kernel_manager, kernel_id), gpu=False)

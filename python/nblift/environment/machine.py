"""The machine under an environment: GPUs and driver (nvidia-smi, asked once per process, beside the package
scan), RAM, OS release, libc, and the CUDA/cuDNN the installed frameworks were built for.

Torch is never imported here: its own view is read only when the kernel already imported it, else the CUDA
build comes from the installed distributions' versions (`torch 2.4.0+cu124`, `nvidia-cuda-runtime-cu12`).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .capture import Distribution

NVIDIA_SMI_TIMEOUT_S = 2.0


@dataclasses.dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int | None
    driver: str | None


_gpu_cache: tuple[tuple[Gpu, ...], str | None] | None = None


def start_nvidia_smi() -> subprocess.Popen[bytes] | None:
    if _gpu_cache is not None:
        return None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=name,driver_version,memory.total"
    try:
        return subprocess.Popen(
            [exe, query, "--format=csv,noheader,nounits"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except OSError:
        return None


def parse_nvidia_smi(text: str) -> tuple[tuple[Gpu, ...], str | None]:
    """GPUs and the driver version from `nvidia-smi --query-gpu=name,driver_version,memory.total` CSV."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        memory = int(float(parts[2])) if parts[2].replace(".", "", 1).isdigit() else None
        gpus.append(Gpu(name=parts[0], memory_mib=memory, driver=parts[1] or None))
    return tuple(gpus), (gpus[0].driver if gpus else None)


def finish_nvidia_smi(proc: subprocess.Popen[bytes] | None) -> tuple[tuple[Gpu, ...], str | None]:
    global _gpu_cache
    if proc is None:
        if _gpu_cache is None:
            _gpu_cache = ((), None)
        return _gpu_cache
    try:
        out, _ = proc.communicate(timeout=NVIDIA_SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _gpu_cache = ((), None)
        return _gpu_cache
    _gpu_cache = parse_nvidia_smi(out.decode("utf-8", "replace")) if proc.returncode == 0 else ((), None)
    return _gpu_cache


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def distro() -> str | None:
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}"
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return match.group(1) if match else None


def libc() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        return None


# -- frameworks and CUDA -----------------------------------------------------------------------------------


def cuda_of_local_version(version: str) -> str | None:
    """`2.4.0+cu124` -> `12.4`, `+cu118` -> `11.8`; None for CPU/ROCm builds or no local label."""
    match = re.search(r"\+cu(\d+)(\d)$", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _major_minor(version: str | None) -> str | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _cudnn_text(value: int) -> str:
    if value >= 10000:  # cuDNN 9: 90100
        return f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    return f"{value // 1000}.{value % 1000 // 100}.{value % 100}"  # cuDNN 8: 8902


def _torch_seen() -> dict[str, str | None] | None:
    """Torch's own view, only when the kernel already imported it (never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    view: dict[str, str | None] = {"version": str(getattr(torch, "__version__", "")), "seen": "imported"}
    try:
        view["cuda"] = torch.version.cuda
        cudnn = sys.modules.get("torch.backends.cudnn")
        value = cudnn.version() if cudnn is not None and torch.version.cuda else None
        view["cudnn"] = _cudnn_text(value) if value else None
    except Exception:  # noqa: BLE001 - a broken CUDA install must not break `%lift env`
        view.setdefault("cuda", None)
        view["cudnn"] = None
    return view


FrameworkViews = dict[str, dict[str, str | None]]


def frameworks(dists: Mapping[str, Distribution]) -> tuple[FrameworkViews, str | None, str | None]:
    """Installed ML frameworks with the CUDA/cuDNN they were built for, and the environment's CUDA/cuDNN."""
    found: FrameworkViews = {}
    runtime = next((d.version for k, d in dists.items() if k.startswith("nvidia-cuda-runtime")), None)
    cudnn_dist = next((d.version for k, d in dists.items() if k.startswith("nvidia-cudnn-cu")), None)
    cudnn_dist = ".".join(cudnn_dist.split(".")[:3]) if cudnn_dist else None
    seen = _torch_seen()
    if seen is not None:
        found["torch"] = seen
    elif "torch" in dists:
        version = dists["torch"].version
        found["torch"] = {
            "version": version,
            "cuda": cuda_of_local_version(version) or _major_minor(runtime),
            "cudnn": cudnn_dist,
            "seen": "installed",
        }
    for key in ("tensorflow", "jax", "jaxlib", "cupy-cuda12x", "cupy-cuda11x", "paddlepaddle-gpu"):
        if key in dists:
            found[key] = {"version": dists[key].version, "cuda": _major_minor(runtime), "seen": "installed"}
    torch_cuda = found.get("torch", {}).get("cuda")
    cuda = torch_cuda or _major_minor(runtime)
    cudnn = found.get("torch", {}).get("cudnn") or cudnn_dist
    return found, cuda, cudnn


def gpu_info() -> tuple[tuple[Gpu, ...], str | None]:
    """GPUs and the driver of this machine (cached for the process)."""
    return finish_nvidia_smi(start_nvidia_smi())

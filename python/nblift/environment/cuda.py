"""CUDA facts the checks and the Dockerfile need: the minimum driver and the base image per CUDA version.

Driver minimums are NVIDIA's for Linux (CUDA Toolkit release notes, table 3: "CUDA Toolkit and Corresponding
Driver Versions"). Since CUDA 11.1 a build also runs on an older driver of the same major release through
minor version compatibility (table 2), minus features that need the newer driver (PTX JIT of newer code):
that case is a warning, a driver below the major release's minimum an error.
"""

from __future__ import annotations

import re

#: CUDA major.minor -> minimum Linux driver of that toolkit.
TOOLKIT_DRIVER = {
    "10.0": "410.48",
    "10.1": "418.39",
    "10.2": "440.33",
    "11.0": "450.36.06",
    "11.1": "455.23",
    "11.2": "460.27.03",
    "11.3": "465.19.01",
    "11.4": "470.42.01",
    "11.5": "495.29.05",
    "11.6": "510.39.01",
    "11.7": "515.43.04",
    "11.8": "520.61.05",
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}
#: CUDA major -> minimum Linux driver under minor version compatibility.
MAJOR_DRIVER = {"11": "450.80.02", "12": "525.60.13", "13": "580.65.06"}

#: CUDA major.minor -> (full version, cuDNN part) of the `nvidia/cuda` runtime image tags on Docker Hub.
IMAGE_TAGS = {
    "11.8": ("11.8.0", "cudnn8"),
    "12.1": ("12.1.1", "cudnn8"),
    "12.2": ("12.2.2", "cudnn8"),
    "12.3": ("12.3.2", "cudnn9"),
    "12.4": ("12.4.1", "cudnn"),
    "12.5": ("12.5.1", "cudnn"),
    "12.6": ("12.6.3", "cudnn"),
    "12.8": ("12.8.1", "cudnn"),
    "12.9": ("12.9.1", "cudnn"),
    "13.0": ("13.0.1", "cudnn"),
}
IMAGE_OS = "ubuntu22.04"


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def major_minor(version: str | None) -> str | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def driver_verdict(driver: str, cuda: str) -> tuple[str, str]:
    """("ok" | "compat" | "too-old" | "unknown", the deciding minimum driver) for `cuda` on `driver`."""
    cuda = major_minor(cuda) or cuda
    full = TOOLKIT_DRIVER.get(cuda)
    if full is None:  # a newer toolkit than the table knows: the newest known minimum is a floor
        known = [v for k, v in TOOLKIT_DRIVER.items() if _numbers(k) <= _numbers(cuda)]
        full = known[-1] if known else None
    if full is None:
        return "unknown", ""
    if _numbers(driver) >= _numbers(full):
        return "ok", full
    floor = MAJOR_DRIVER.get(cuda.split(".")[0])
    if floor is not None and _numbers(driver) >= _numbers(floor):
        return "compat", full
    return "too-old", floor or full


def cuda_image(cuda: str) -> str:
    """The `nvidia/cuda` cuDNN runtime image for CUDA `cuda` (major.minor)."""
    cuda = major_minor(cuda) or cuda
    full, cudnn = IMAGE_TAGS.get(cuda, (f"{cuda}.0", "cudnn"))
    return f"nvidia/cuda:{full}-{cudnn}-runtime-{IMAGE_OS}"

"""The live view of `nblift.log` in a notebook: under the cell that logs, one small chart per metric with its
latest value, redrawn by the metric writer after each batch (so the loop itself never draws)."""

from __future__ import annotations

import threading
from html import escape
from typing import Any

from .sinks import Point

MAX_POINTS = 400  # per metric, thinned evenly as a long loop goes on
WIDTH, HEIGHT = 160, 36


def kernel_shell() -> Any:
    """The IPython kernel shell this code runs in, or None (a terminal, a script, a runner's kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and type(shell).__name__ == "ZMQInteractiveShell" else None


def _spark(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = WIDTH / (len(values) - 1)
    coords = " ".join(
        f"{i * step:.1f},{HEIGHT - 2 - (v - low) / span * (HEIGHT - 4):.1f}" for i, v in enumerate(values)
    )
    return (
        f"<svg width='{WIDTH}' height='{HEIGHT}' style='vertical-align:middle'>"
        f"<polyline fill='none' stroke='currentColor' stroke-width='1.2' points='{coords}'/></svg>"
    )


class LiveChart:
    def __init__(self) -> None:
        import ipywidgets

        self.widget = ipywidgets.HTML(value="<small>nblift.log: waiting for the first batch…</small>")
        self.series: dict[str, list[tuple[int, float]]] = {}
        self._lock = threading.Lock()

    def update(self, batch: list[Point]) -> None:
        with self._lock:
            for key, value, _, step in batch:
                line = self.series.setdefault(key, [])
                line.append((step, value))
                if len(line) > 2 * MAX_POINTS:
                    line[:] = line[::2]
            rows = "".join(
                f"<tr><td><code>{escape(key)}</code></td><td>{_spark([v for _, v in line])}</td>"
                f"<td>{line[-1][1]:.5g} <small>step {line[-1][0]}</small></td></tr>"
                for key, line in sorted(self.series.items())
            )
        self.widget.value = f"<table class='nblift-live'>{rows}</table>"


class CellCharts:
    """Shows a new chart under each cell that logs; only inside a kernel, and only once per cell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.count: int | None = None
        self.chart: LiveChart | None = None

    def __call__(self) -> None:
        count = self.shell.execution_count
        if count == self.count:
            return
        self.count = count
        from IPython.display import display

        self.chart = LiveChart()
        display(self.chart.widget)

    def update(self, batch: list[Point]) -> None:
        if self.chart is not None:
            self.chart.update(batch)

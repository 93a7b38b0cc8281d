"""A papermill engine that reports each code cell's start, end, outputs and errors as run events.

Papermill executes the notebook (parameters injected after the cell tagged `parameters`, the executed
notebook saved as cells finish); this engine only watches, through the hooks papermill's client offers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from nbclient.exceptions import CellExecutionError

# Only the runner imports this module, once it is about to execute (papermill is its engine).
from papermill.clientwrap import PapermillNotebookClient  # noqa: TID253
from papermill.engines import NBClientEngine, papermill_engines  # noqa: TID253
from papermill.utils import merge_kwargs, remove_args  # noqa: TID253

from ..runs.events import EventKind, clip
from .checkpoint import RESUMED_KEY, Checkpointer

ENGINE_NAME = "nblift"
INJECTED_TAG = "injected-parameters"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Emit = Callable[..., Any]


def plain(text: str) -> str:
    """`text` without terminal colour codes."""
    return _ANSI.sub("", text)


def label_of(source: str) -> str:
    """A cell's first non-empty line, short enough for a progress row."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def cell_numbers(cells: list[Any]) -> list[int | None]:
    """The position (1-based) each cell had in the user's notebook; None for the injected parameters cell."""
    numbers: list[int | None] = []
    n = 0
    for cell in cells:
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            numbers.append(None)
        else:
            n += 1
            numbers.append(n)
    return numbers


def describe(cell: Any, number: int | None) -> str:
    name = "injected parameters" if number is None else f"cell {number}"
    label = label_of(cell.source)
    return f"{name} ({label})" if label else name


def error_of(cell: Any, exc: CellExecutionError) -> tuple[str, str, str]:
    """(exception name, message, traceback) of a failed cell: the kernel's execute reply as nbclient read it,
    or, where the reply left them out (some kernels send `ename: null`), the cell's own error output."""
    shown = next((o for o in reversed(cell.get("outputs", [])) if o.get("output_type") == "error"), {})
    ename = exc.ename or shown.get("ename") or "an error"
    evalue = exc.evalue if exc.evalue is not None and exc.ename else shown.get("evalue") or ""
    traceback = "\n".join(shown.get("traceback") or []) if not exc.ename and shown else exc.traceback or ""
    return str(ename), str(evalue), traceback


def _output_event(output: Any) -> dict[str, Any] | None:
    kind = output.get("output_type")
    if kind == "stream":
        return {"stream": output.get("name", "stdout"), "text": clip(output.get("text", ""))}
    if kind == "error":
        text = plain("\n".join(output.get("traceback", [])))
        return {"stream": "error", "text": clip(text or f"{output.get('ename')}: {output.get('evalue')}")}
    if kind in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain")
        return {"stream": "result", "text": clip(text)} if text else None
    return None


def _replay(cell: Any, saved: dict[str, Any]) -> None:
    """Give a cell that ran before a preemption what it showed then."""
    import nbformat

    if cell.cell_type == "code":
        cell.outputs = [nbformat.from_dict(o) for o in saved.get("outputs", [])]
        cell.execution_count = saved.get("execution_count")
    cell.metadata.update(nbformat.from_dict(saved.get("metadata", {})))


class _EventClient(PapermillNotebookClient):  # type: ignore[misc]
    emit: Emit = staticmethod(lambda kind, **data: None)  # replaced per run by engine_for
    checkpointer: Checkpointer | None = None  # set per run by engine_for

    def papermill_execute_cells(self) -> None:
        numbers = cell_numbers(self.nb.cells)
        checkpoints = self.checkpointer
        resume = checkpoints.resume if checkpoints is not None else None
        for index, cell in enumerate(self.nb.cells):
            code = cell.cell_type == "code"
            if resume is not None and index < resume.next_index:
                _replay(cell, resume.cells[index] if index < len(resume.cells) else {})
                continue  # ran before the preemption: its outputs come from the checkpoint
            if resume is not None and code and checkpoints is not None:
                checkpoints.restore(self)
                cell.metadata[RESUMED_KEY] = {"after_cell": resume.cell, "checkpoint": resume.sid}
                resume = None
            started = time.monotonic()
            status = "interrupted"  # what is left when a cancel or the time limit stops the cell
            if code:
                self.emit(
                    EventKind.CELL_STARTED, index=index, cell=numbers[index], label=label_of(cell.source)
                )
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
                status = "ok"
            except CellExecutionError as exc:
                status = "error"
                ename, evalue, traceback = error_of(cell, exc)
                self.emit(
                    EventKind.CELL_ERROR,
                    index=index,
                    cell=numbers[index],
                    label=label_of(cell.source),
                    ename=ename,
                    evalue=clip(evalue),
                    traceback=clip(plain(traceback)),
                )
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=exc)
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
                if code:
                    self.emit(
                        EventKind.CELL_FINISHED,
                        index=index,
                        cell=numbers[index],
                        duration=round(time.monotonic() - started, 4),
                        status=status,
                    )
            if checkpoints is not None and status == "ok":
                checkpoints.after_cell(self, index, numbers[index])  # raises Preempted once asked to stop

    async def _check_raise_for_error(
        self, cell: Any, cell_index: int, exec_reply: dict[str, Any] | None
    ) -> None:
        await super()._check_raise_for_error(cell, cell_index, exec_reply)
        payload = ((exec_reply or {}).get("content") or {}).get("payload") or []
        if any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payload):
            # exit() in a kernel only asks the front end to close; in a run it ends the run, as a failure
            raise CellExecutionError("exit() was called: the run stops here", "SystemExit", "exit() called")

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        output = super().process_message(msg, cell, cell_index)
        if output is not None:
            event = _output_event(output)
            if event is not None:
                self.emit(EventKind.OUTPUT, index=cell_index, **event)
        return output


def engine_for(emit: Emit, kernel_env: dict[str, str], checkpointer: Checkpointer | None = None) -> str:
    """Register (again) the engine for this process's run, reporting through `emit`, starting the kernel
    with the environment `kernel_env` and taking or restoring checkpoints with `checkpointer`; returns its
    name."""
    client = type("EventClient", (_EventClient,), {"emit": staticmethod(emit), "checkpointer": checkpointer})

    class Engine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            start_timeout: int = 60,
            execution_timeout: float | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log_output=log_output,
            )
            return client(nb_man, **final).execute(env=kernel_env)

    papermill_engines.register(ENGINE_NAME, Engine)
    return ENGINE_NAME

"""Run building blocks without a kernel: parameters and durations, the event log, record states, cell
numbering, run ids, and the terminal progress."""

from __future__ import annotations

import io
import json
import os

import pytest

from nblift.errors import InvalidInput, NotFound
from nblift.runs.events import MAX_TEXT, append_event, clip, read_events
from nblift.runs.model import RunSpec, RunState
from nblift.runs.params import check_parameters, parse_assignments, parse_duration
from nblift.runs.progress import TerminalProgress
from nblift.runs.records import (
    check_run_id,
    new_record,
    read_state,
    record_dir,
    resolve_run_id,
    run_info,
    update_state,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("0.5h", 1800),
        (5, 5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "1x", "-5", "0", "h", "1h 30m", "30mm"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(InvalidInput) as err:
        parse_duration(text)
    assert "30m" in err.value.hint


def test_no_timeout_is_none():
    assert parse_duration(None) is None and parse_duration("") is None


def test_assignments_are_typed_like_json():
    parsed = parse_assignments(
        ["lr=0.01", "epochs=3", "name=resnet 50", "flag=true", "off=False", "x=null", "l=[1,2]"]
    )
    assert parsed == {
        "lr": 0.01,
        "epochs": 3,
        "name": "resnet 50",
        "flag": True,
        "off": False,
        "x": None,
        "l": [1, 2],
    }
    assert parse_assignments(["expr=a=b"]) == {"expr": "a=b"}  # only the first = splits


@pytest.mark.parametrize(
    "bad", ["novalue", "x;import os=1", "1x=2", "class=1", "a.b=1", "=3", "a b=1", "__import__('os')=1"]
)
def test_parameter_names_must_be_identifiers(bad):
    with pytest.raises(InvalidInput):
        parse_assignments([bad])


def test_parameter_values_must_be_json_like():
    with pytest.raises(InvalidInput, match="type object"):
        check_parameters({"x": object()})
    with pytest.raises(InvalidInput, match="too large"):
        check_parameters({"x": "a" * 200_000})
    assert check_parameters({"nested": {"a": [1, {"b": None}]}}) == {"nested": {"a": [1, {"b": None}]}}


def test_events_append_and_resume_from_an_offset(tmp_path):
    append_event(tmp_path, "run.started", notebook="a.ipynb", parameters={}, pid=1)
    append_event(tmp_path, "output", index=0, stream="stdout", text="hi\n")
    first, offset = read_events(tmp_path)
    assert [e["kind"] for e in first] == ["run.started", "output"]
    assert read_events(tmp_path, offset) == ([], offset)
    append_event(tmp_path, "run.finished", state="SUCCEEDED", error=None)
    more, _ = read_events(tmp_path, offset)
    assert [e["kind"] for e in more] == ["run.finished"]


def test_a_line_being_written_is_not_read_yet_and_damage_is_skipped(tmp_path):
    append_event(tmp_path, "tracking.error", message="a")
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write("{not json}\n")
        fh.write('{"t": 1, "kind": "half')
    events, offset = read_events(tmp_path)
    assert [e["kind"] for e in events] == ["tracking.error"]
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write('"}\n')
    rest, _ = read_events(tmp_path, offset)
    assert [e["kind"] for e in rest] == ["half"]


def test_long_output_is_clipped():
    assert clip("x" * 10) == "x" * 10
    clipped = clip("x" * (MAX_TEXT + 50))
    assert clipped.startswith("x" * MAX_TEXT) and "50 characters cut" in clipped


def _record(tmp_path, run_id="abcdef123456"):
    spec = RunSpec(id=run_id, notebook="a.ipynb", backend="local", bundle="b" * 64, created=1.0)
    return new_record(tmp_path, spec).folder


def test_first_terminal_state_wins(tmp_path):
    folder = _record(tmp_path)
    assert read_state(folder)["state"] == "PENDING"
    update_state(folder, state="RUNNING", started=2.0)
    update_state(folder, state="CANCELLED", finished=3.0)
    after = update_state(folder, state="SUCCEEDED", finished=4.0)  # a late writer cannot overturn it
    assert after["state"] == "CANCELLED" and after["finished"] == 3.0
    info = run_info(folder)
    assert info.state == "CANCELLED" and info.duration == 1.0
    assert RunState(info.state).terminal


def test_record_files_are_private(tmp_path):
    folder = _record(tmp_path)
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "request.json").stat().st_mode & 0o777) == "0o600"


def test_run_ids_and_prefixes(tmp_path):
    _record(tmp_path, "abcdef123456")
    _record(tmp_path, "abcd00000000")
    assert resolve_run_id(tmp_path, "abcde") == "abcdef123456"
    with pytest.raises(InvalidInput, match="ambiguous"):
        resolve_run_id(tmp_path, "abcd")
    with pytest.raises(NotFound):
        resolve_run_id(tmp_path, "ffff")
    for bad in ("../x", "ABCDEF123456", "abc", "abcdef1234567", "abcdef12345/"):
        with pytest.raises(InvalidInput):
            check_run_id(bad) if len(bad) != 3 else resolve_run_id(tmp_path, bad)
    with pytest.raises(NotFound):
        record_dir(tmp_path, "0123456789ab")


def test_a_record_without_request_is_not_a_run(tmp_path):
    (tmp_path / "runs" / "0123456789ab").mkdir(parents=True)
    with pytest.raises(NotFound):
        record_dir(tmp_path, "0123456789ab")


def test_cell_numbers_skip_the_injected_cell():
    pytest.importorskip("papermill")
    from nblift.target.engine import cell_numbers, describe, label_of

    cells = [
        {"metadata": {"tags": ["parameters"]}, "source": "a = 1"},
        {"metadata": {"tags": ["injected-parameters"]}, "source": "# Parameters\na = 2"},
        {"metadata": {}, "source": "\n\nprint(a)\n"},
    ]
    assert cell_numbers(cells) == [1, None, 2]
    assert label_of(cells[2]["source"]) == "print(a)"

    class Cell(dict):
        source = "x = 1 / 0"

    assert describe(Cell(), 3) == "cell 3 (x = 1 / 0)"
    assert describe(Cell(), None).startswith("injected parameters")


def test_terminal_progress_without_a_tty():
    out = io.StringIO()
    with TerminalProgress(out, 2) as progress:
        for event in (
            {"kind": "run.started", "pid": 7},
            {"kind": "cell.started", "cell": 1, "label": "x = 1"},
            {"kind": "cell.finished", "cell": 1, "status": "ok", "duration": 0.5},
            {"kind": "output", "text": "hello"},
            {"kind": "metric", "name": "loss", "value": 0.25, "step": 3},
            {"kind": "cell.started", "cell": 2, "label": "boom()"},
            {"kind": "cell.finished", "cell": 2, "status": "error", "duration": 0.1},
        ):
            progress.on_event(event)
    text = out.getvalue()
    assert "running cell 1: x = 1" in text
    assert "cell 1 ok in 0.50 s" in text
    assert "hello\n" in text
    assert "metric loss=0.25 (step 3)" in text
    assert "cell 2 error" in text
    assert progress.done == 2


def test_nblift_log_in_a_run_writes_metric_events(tmp_path, monkeypatch):
    import nblift

    monkeypatch.setenv("NBLIFT_RUN_DIR", str(tmp_path))
    nblift.log(step=4, loss=0.5, acc=1)
    events, _ = read_events(tmp_path)
    assert [(e["name"], e["value"], e["step"]) for e in events] == [("loss", 0.5, 4), ("acc", 1.0, 4)]
    for bad in ({"loss": "high"}, {"flag": True}, {"ok": 1.0, "loss": None}):
        with pytest.raises(TypeError, match="not a number"):
            nblift.log(**bad)
    with pytest.raises(TypeError, match="not an integer"):
        nblift.log(step=1.5, loss=1.0)
    assert len(read_events(tmp_path)[0]) == 2  # nothing half-logged
    nblift.log(step=5, loss=float("nan"))
    nan = read_events(tmp_path)[0][-1]
    assert nan["value"] is None and nan["raw"] == "nan"  # valid JSON for every reader
    assert json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])["kind"] == "metric"
    assert os.environ["NBLIFT_RUN_DIR"] == str(tmp_path)


def test_a_failed_cell_names_its_exception_even_when_the_reply_does_not():
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_code_cell, new_output

    from nblift.target.engine import error_of

    cell = new_code_cell("df.append(1)")
    cell.outputs = [
        new_output(
            "error",
            ename="AttributeError",
            evalue="'DataFrame' has no attribute 'append'",
            traceback=["tb1", "tb2"],
        )
    ]
    reply = CellExecutionError("", None, None)  # a kernel whose execute reply left the error out
    assert error_of(cell, reply) == ("AttributeError", "'DataFrame' has no attribute 'append'", "tb1\ntb2")
    full = CellExecutionError("the traceback", "ValueError", "bad batch")
    assert error_of(cell, full) == ("ValueError", "bad batch", "the traceback")
    assert error_of(new_code_cell("x"), CellExecutionError("", None, None))[0] == "an error"


def test_logs_show_a_failed_cells_traceback_and_the_reason_once():
    from types import SimpleNamespace

    from nblift.runs.render import logs_text

    events = [
        {"kind": "cell.started", "cell": 2, "label": "train()"},
        {
            "kind": "cell.error",
            "cell": 2,
            "ename": "ValueError",
            "evalue": "bad batch",
            "traceback": "Traceback\nValueError: bad batch",
        },
        {
            "kind": "run.finished",
            "state": "FAILED",
            "error": {"message": "cell 2 raised ValueError: bad batch"},
        },
    ]
    text = logs_text({"run": SimpleNamespace(id="r"), "events": events})
    assert text.splitlines() == [
        "--- cell 2: train()",
        "Traceback",
        "ValueError: bad batch",
        "--- FAILED: cell 2 raised ValueError: bad batch",
    ]


def test_the_run_widget_shows_a_cells_source_escaped_once():
    from types import SimpleNamespace

    import ipywidgets as widgets

    from nblift.runs.widget import RunView

    view = SimpleNamespace(_rows={}, _labels={}, cells=widgets.VBox())
    RunView._row(view, {"index": 1, "cell": 1, "label": 'print("done") & <b>'}, "running")
    RunView._row(view, {"index": 1, "cell": 1}, "ok", 0.5)  # cell.finished carries no label
    label = view._rows[1][1].value
    assert (
        "print(&quot;done&quot;) &amp; &lt;b&gt;" in label and "&amp;quot;" not in label and "0.50 s" in label
    )


def test_the_run_widget_drops_its_cancel_button_once_the_run_ended(tmp_path):
    import dataclasses

    from nblift.project import Project
    from nblift.runs.model import RunInfo
    from nblift.runs.widget import RunView

    info = RunInfo(
        id="abcdef123456", notebook="t.ipynb", backend="local", state="RUNNING", parameters={}, created=0.0,
        started=1.0, finished=None, error=None, mlflow=None, executed=None, bundle="b", timeout=None,
    )  # fmt: skip
    view = RunView(Project.discover(tmp_path), info, 2)
    assert view.cancel_button.layout.display != "none" and not view.cancel_button.disabled
    view._finished(dataclasses.replace(info, state="SUCCEEDED", finished=2.0))
    assert view.cancel_button.disabled and view.cancel_button.layout.display == "none"


def test_a_run_s_cost_is_worded_once_and_warns_past_80_percent_of_its_budget() -> None:
    import time

    from nblift.runs.model import CostSpec
    from nblift.runs.records import _cost

    spec = CostSpec(hourly=3600.0, budget=1.0, source="hourly_cost of ssh_hosts.box")
    early = _cost(spec, {"started": time.time() - 0.5})
    assert early is not None and early["text"].startswith("$0.50 at $3600.00/h; budget $1.00")
    assert early["warning"] == ""
    late = _cost(spec, {"started": time.time() - 0.9})
    assert late is not None and late["warning"] == "over 80% of its $1.00 budget spent: it stops at $1.00"
    ended = _cost(spec, {"started": 0.0, "finished": 1.0, "cost": 1.0})
    assert ended is not None and ended["warning"] == ""
    assert ended["text"] == "$1.00 at $3600.00/h; budget $1.00"
    assert _cost(CostSpec(hourly=0.0), {}) is None  # free: nothing to say

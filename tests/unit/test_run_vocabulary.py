"""One run event vocabulary: every event kind written anywhere is published; the OpenAPI document and the
browser's TypeScript types are generated from it and up to date; payloads are checked when written; the
run specification round-trips and refuses what it is not."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import nblift
from nblift.runs import event_schema
from nblift.runs.events import PAYLOADS, EventKind, append_event, read_events
from nblift.runs.model import RunSpec, SpecError, TrackingSpec

PACKAGE = Path(nblift.__file__).parent
REPO = PACKAGE.parents[1]
EMITTERS = {"append_event", "emit", "_emit"}


def _literal_kinds() -> dict[str, list[str]]:
    """Event kinds written as text anywhere in nblift: the first argument of append_event/emit that is a
    string or an EventKind member, and `"kind": "..."` in a dict (the stdlib-only SSH agent)."""
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        where = str(path.relative_to(PACKAGE))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                args = node.args[1:] if name == "append_event" else node.args
                if not args or (name not in EMITTERS and not _is_member(args[0])):
                    continue  # RunRecord.append(EventKind.X) counts; list.append(...) does not
                for value in _kind_values(args[0]):
                    found.setdefault(value, []).append(where)
            elif isinstance(node, ast.Dict) and _is_event_line(node):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "kind"
                        and isinstance(value, ast.Constant)
                    ):
                        found.setdefault(str(value.value), []).append(where)
    return found


def _is_event_line(node: ast.Dict) -> bool:
    """A dict written as an event line has its time `t` beside its `kind` (a Kubernetes manifest's or a
    verdict's `kind` is not an event)."""
    keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return {"t", "kind"} <= keys


def _is_member(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "EventKind"


def _kind_values(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "EventKind":
        return [EventKind[node.attr].value]
    if isinstance(node, ast.IfExp):
        return _kind_values(node.body) + _kind_values(node.orelse)
    return []


def test_every_kind_written_anywhere_is_published():
    found = _literal_kinds()
    published = {k.value for k in EventKind}
    assert found, "the scan found no event writers: it no longer matches the code"
    unpublished = {k: where for k, where in found.items() if k not in published}
    assert not unpublished, f"event kinds outside the vocabulary: {unpublished}"
    # and nothing published is dead: every kind is written somewhere
    assert published <= set(found), f"published but never written: {published - set(found)}"


def test_the_published_documents_are_generated_from_the_vocabulary():
    assert event_schema.stale(REPO) == [], "run python -m nblift.runs.event_schema --write"
    document = json.loads((PACKAGE / "server" / "openapi.json").read_text())
    variants = document["components"]["schemas"]["RunEvent"]["oneOf"]
    assert [v["properties"]["kind"]["enum"][0] for v in variants] == [k.value for k in EventKind]


def test_typescript_and_python_agree_on_kinds_and_fields():
    ts = (REPO / "labextension" / "runEvents.ts").read_text()
    kinds = re.search(r"RUN_EVENT_KINDS = \[(.*?)\] as const", ts, re.S)
    assert kinds is not None
    assert re.findall(r"'([^']+)'", kinds.group(1)) == [k.value for k in EventKind]
    for block in re.findall(r"export interface \w+ \{(.*?)\n\}", ts, re.S):
        kind = re.search(r"kind: '([^']+)'", block)
        assert kind is not None
        fields = {m for m in re.findall(r"^\s+(\w+)\??:", block, re.M)} - {"kind", "t"}
        assert fields == {n.rstrip("?") for n in PAYLOADS[EventKind(kind.group(1))]}


def test_the_browser_reads_only_published_kinds():
    """Every `case 'x':` and `kind === 'x'` in the extension names a published kind."""
    published = {k.value for k in EventKind}
    for path in (REPO / "labextension").rglob("*.ts*"):
        text = path.read_text()
        for kind in re.findall(r"(?:case|kind ===) '([a-z]+(?:\.[a-z_]+)?)'", text):
            if "event" in text[: text.find(kind)][-400:].lower():
                assert kind in published, f"{path.name} reads an unpublished event kind {kind!r}"


@pytest.mark.parametrize(
    ("kind", "data", "says"),
    [
        ("nonsense", {}, "is not a valid EventKind"),
        ("tracking.error", {}, "no 'message'"),
        ("tracking.error", {"message": 3}, "not string"),
        ("tracking.error", {"message": "x", "extra": 1}, "unpublished fields"),
        ("cell.finished", {"index": 1, "cell": None, "duration": 0.1, "status": True}, "not string"),
        ("metric", {"name": "loss", "value": 0.1, "step": "3"}, "not integer"),
    ],
)
def test_payloads_are_checked_when_written(tmp_path, kind, data, says):
    with pytest.raises(ValueError, match=says):
        append_event(tmp_path, kind, **data)
    assert read_events(tmp_path) == ([], 0)  # nothing half-written


def test_optional_and_nullable_fields(tmp_path):
    append_event(tmp_path, EventKind.METRIC, name="loss", value=None, step=0, raw="nan")
    append_event(tmp_path, EventKind.CELL_STARTED, index=0, cell=None, label="")
    events, _ = read_events(tmp_path)
    assert [e["kind"] for e in events] == ["metric", "cell.started"]


def test_run_spec_round_trips_and_is_the_only_thing_written(tmp_path):
    spec = RunSpec(
        id="abcdef123456",
        notebook="nb/train.ipynb",
        backend="ssh:gpu1",
        bundle="b" * 64,
        parameters={"lr": 0.1, "name": "x'y", "layers": [1, 2]},
        timeout=90.0,
        tags={"nblift.kind": "run"},
        tracking=TrackingSpec(project="/p"),
        submission_id="s" * 12,
    )
    (tmp_path / "request.json").write_text(spec.dumps())
    assert RunSpec.read(tmp_path) == spec
    moved = spec.with_tracking(TrackingSpec(uri="http://127.0.0.1:5000", experiment="e"))
    assert moved.tracking.uri and moved.parameters == spec.parameters and spec.tracking.project == "/p"
    assert set(json.loads(spec.dumps())) == {f for f in RunSpec.__dataclass_fields__}
    remote = spec.with_tracking(TrackingSpec(project="/run/tracking", at_home=True))
    (tmp_path / "request.json").write_text(remote.dumps())
    assert RunSpec.read(tmp_path).tracking.at_home and "at_home" not in json.loads(spec.dumps())["tracking"]


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"id": "x"},
        {"id": "x", "notebook": "a", "backend": "local", "bundle": 3},
        {"id": "x", "notebook": "a", "backend": "local", "bundle": "b", "timeout": "1h"},
        {"id": "x", "notebook": "a", "backend": "local", "bundle": "b", "tracking": []},
        {"id": "x", "notebook": "a", "backend": "local", "bundle": "b", "timeout": True},
        {"id": "x", "notebook": "a", "backend": "local", "bundle": "b", "tracking": {"at_home": "yes"}},
    ],
)
def test_a_damaged_spec_is_refused(data):
    with pytest.raises(SpecError):
        RunSpec.from_json(data)

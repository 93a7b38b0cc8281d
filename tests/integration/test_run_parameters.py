"""One parameter parser for every door: the same typed text through the CLI (`-p NAME=VALUE`), the magic
(`%lift run -p`) and the Run on... dialog's REST call (`parameter_text`) injects the same values into the
run's kernel, read back from the executed notebook."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import nbformat
import pytest
from run_helpers import wait_done, write_notebook

from nblift.project import Project
from nblift.runs import service
from nblift.runs.params import parse_value, value_text
from nblift.runs.records import record_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: (parameter name, what a person types, the value the run must receive)
TABLE = [
    ("s_quoted", "'a'", "a"),
    ("s_double", '"a"', "a"),
    ("s_plain", "resnet", "resnet"),
    ("s_spaced", "a b", "a b"),
    ("s_assign", "x=1", "x=1"),
    ("s_apostrophe", "it's", "it's"),
    ("s_digits", '"3"', "3"),
    ("b_json", "true", True),
    ("b_python", "True", True),
    ("b_false", "False", False),
    ("n_int", "3", 3),
    ("n_float", "0.5", 0.5),
    ("n_exp", "-1e3", -1000.0),
    ("l_json", "[1, 2]", [1, 2]),
    ("l_python", "['a', 1]", ["a", 1]),
    ("d_python", "{'k': None}", {"k": None}),
    ("empty", "", ""),
    ("none", "None", None),
    ("null", "null", None),
    ("unicode", "ünï ☃ 日本", "ünï ☃ 日本"),
]
NAMES = [name for name, _, _ in TABLE]
REPORT = (
    "import json\n"
    f"print('PARAMS' + json.dumps({{n: [type(globals()[n]).__name__, globals()[n]] for n in {NAMES!r}}}))"
)


def injected(project: Project, run_id: str) -> dict:
    info = wait_done(project, run_id, timeout=180)
    assert info.state == "SUCCEEDED", info.error
    executed = nbformat.read(record_dir(project.state_dir, run_id) / str(info.executed), as_version=4)
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            if output.get("text", "").startswith("PARAMS"):
                return json.loads(output["text"][len("PARAMS") :])
    raise AssertionError("the report cell printed nothing")


def test_the_parser_reads_back_what_it_writes():
    for _, text, expected in TABLE:
        assert parse_value(text) == expected and type(parse_value(text)) is type(expected), text
        assert parse_value(value_text(expected)) == expected


@pytest.fixture
def project(jp_root_dir, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(jp_root_dir)
    defaults = "\n".join(f"{name} = 0" for name in NAMES)
    write_notebook(jp_root_dir / "p.ipynb", REPORT, parameters=defaults)
    return Project.discover(jp_root_dir)


async def test_cli_magic_and_dialog_inject_the_same_values(project, jp_fetch, child_env):
    from kernel_helpers import Kernel

    expected = {name: [type(value).__name__, value] for name, _, value in TABLE}
    assignments = [f"{name}={text}" for name, text, _ in TABLE]

    # The dialog's call: the text of each field, as typed.
    response = await jp_fetch(
        "nblift",
        "api",
        "runs",
        method="POST",
        body=json.dumps({"notebook": "p.ipynb", "parameter_text": {n: t for n, t, _ in TABLE}}),
    )
    rest = json.loads(response.body)
    assert rest["parameter_text"] == {n: value_text(v) for n, _, v in TABLE}  # what the dialog shows again
    assert injected(project, rest["id"]) == expected

    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "nblift",
            "--json",
            "run",
            "p.ipynb",
            *(a for x in assignments for a in ("-p", x)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=project.root,
        env=child_env,
    )
    assert cli.returncode == 0, cli.stderr
    assert injected(project, json.loads(cli.stdout)["id"]) == expected

    kernel = Kernel(project.root)
    try:
        kernel.run("%load_ext nblift")
        line = " ".join(f"-p {shlex.quote(a)}" for a in assignments)
        kernel.run(f"r = %lift --json run p.ipynb {line} --wait")
        magic_id = kernel.value("r.data['id']")
    finally:
        kernel.shutdown()
    assert injected(project, magic_id) == expected

    runs = {r.id: r.parameters for r in service.list_runs(project)}
    assert runs[rest["id"]] == runs[json.loads(cli.stdout)["id"]] == runs[magic_id]

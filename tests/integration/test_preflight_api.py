"""Preflight's API check with real environments: a notebook written for pandas 1.5, numpy 1.26 and matplotlib
3.7 checked against current releases names each removed API with its cell and the library's replacement;
against the versions it was written for it has no finding; the example notebooks have none either. Also the
probe's JSON contract, with this interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from env_helpers import require_tools, uv
from nblift.environment.api_check import PROBE_FILE, api_findings, notebook_api_uses, run_probe
from nblift.environment.notebook import cells_of
from nblift.environment.preflight import preflight
from nblift.project import Project

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("pandas", "numpy", "matplotlib")
#: What the notebook was written for: the last releases before the removals.
OLD = ("pandas==1.5.3", "numpy==1.26.4", "matplotlib==3.7.5")
#: Current releases, when the interpreter running the tests has none.
NEW = ("pandas>=3", "numpy>=2", "matplotlib>=3.10")
VERSIONS = (
    f"import importlib.metadata as m, json; print(json.dumps({{n: m.version(n) for n in {LIBRARIES!r}}}))"
)

# (cell source, [(call as written, replacement the hint names or None), ...]) for each code cell
LEGACY_CELLS: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt", []),
    (
        "x = np.array([1.0, np.infty, np.NaN])\ny = np.float_(3)",
        [("np.infty", "np.inf"), ("np.NaN", "np.nan"), ("np.float_", "np.float64")],
    ),
    (
        "total = np.product(x)\nflag = np.alltrue(x > 0)",
        [("np.product", "numpy.prod"), ("np.alltrue", "np.all")],
    ),
    (
        "df = pd.DataFrame({'a': [1, 2]})\ndf = df.append({'a': 3}, ignore_index=True)\n"
        "for name, col in df.iteritems():\n    print(name)",
        [("df.append(...)", "pandas.concat"), ("df.iteritems(...)", ".items")],
    ),
    (
        "s = pd.Series([1, 2, 3])\ns2 = s.append(pd.Series([4]))\nfor k, v in s.iteritems():\n    pass\n"
        "spread = df.mad()",
        [("s.append(...)", "pandas.concat"), ("s.iteritems(...)", ".items"), ("df.mad(...)", None)],
    ),
    ("when = pd.datetime(2020, 1, 1)", [("pd.datetime", "datetime module")]),
    (
        "plt.style.use('seaborn')\ncmap = plt.cm.get_cmap('viridis')",
        [("plt.style.use('seaborn')", "seaborn-v0_8"), ("plt.cm.get_cmap", "matplotlib.colormaps")],
    ),
    ("hours = pd.date_range('2020-01-01', periods=3, freq='H')", [("freq='H'", "Did you mean h?")]),
    (  # `result` has its type from the kernel (the caller's known types); `arr` from the notebook
        "arr = np.zeros(3)\nwidth = arr.ptp()\nflipped = result.swapaxes(0, 1)",
        [("arr.ptp(...)", None), ("result.swapaxes(...)", None)],
    ),
    (  # what still works, and what is not a library's: no finding
        "%time m = np.mean(x)\nz = np.inf + np.prod(x)\nboth = pd.concat([df, df])\n"
        "for name, col in df.items():\n    pass\nplt.style.use('ggplot')\nprice = df.a\n"
        "def load():\n    return []\nrows = load()\nrows.append(1)\n"
        "with open(__file__) as fh:\n    fh.read()",
        [],
    ),
]
KNOWN_TYPES = {"result": "pandas.core.frame.DataFrame"}


def write_notebook(path: Path, sources: list[str]) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# written for pandas 1.5"}]
    cells += [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    return path


def write_lock(root: Path, packages: dict[str, str]) -> None:
    body = 'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n'
    for name, version in packages.items():
        body += f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
    (root / "pylock.toml").write_text(body + '\n[tool.nblift]\nplatform = "linux-x86_64"\npython = "3.11"\n')


def versions_in(python: str) -> dict[str, str] | None:
    out = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, timeout=60, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def make_env(folder: Path, requirements: tuple[str, ...]) -> str:
    """A virtual environment of this interpreter's Python holding `requirements`, built with uv."""
    tool = uv()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [tool, "venv", "-q", "--python", sys.executable, str(folder)], env=env, check=True, timeout=120
    )
    python = str(folder / "bin" / "python")
    subprocess.run(
        [tool, "pip", "install", "-q", "-p", python, *requirements], env=env, check=True, timeout=900
    )
    return python


def is_current(versions: dict[str, str] | None) -> bool:
    minimum = {"pandas": (3,), "numpy": (2,), "matplotlib": (3, 10)}
    if not versions:
        return False
    return all(tuple(int(p) for p in versions[n].split(".")[: len(m)]) >= m for n, m in minimum.items())


@pytest.fixture(scope="module")
def envs(tmp_path_factory) -> dict[str, tuple[str, dict[str, str]]]:
    """{"old"|"new": (python, {library: version})}; "new" is this interpreter when it has current releases."""
    require_tools()
    folder = tmp_path_factory.mktemp("api-envs")
    old = make_env(folder / "old", OLD)
    new = sys.executable if is_current(versions_in(sys.executable)) else make_env(folder / "new", NEW)
    found = {"old": (old, versions_in(old)), "new": (new, versions_in(new))}
    assert found["old"][1] == {"pandas": "1.5.3", "numpy": "1.26.4", "matplotlib": "3.7.5"}
    assert is_current(found["new"][1]), found["new"][1]
    return found


@pytest.fixture
def legacy(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    return Project.discover(root), write_notebook(root / "legacy.ipynb", [s for s, _ in LEGACY_CELLS])


def expected_findings() -> list[tuple[int, str, str | None]]:
    """(cell index, call as written, replacement) in notebook order; the markdown cell is cell 0."""
    return [(index + 1, call, hint) for index, (_, calls) in enumerate(LEGACY_CELLS) for call, hint in calls]


def test_removed_apis_against_current_releases_are_named_with_cell_versions_and_replacement(envs, legacy):
    project, notebook = legacy
    (old_python, old), (new_python, new) = envs["old"], envs["new"]
    write_lock(project.root, new)
    result = preflight(
        project, notebook, target_python=new_python, kernel_python=old_python, driver="550.54.15"
    )
    assert "api" in result.checked
    api = [f for f in result.findings if f.check == "api"]
    # the caller's known types are not preflight's: result.swapaxes is found through api_findings below
    expected = [e for e in expected_findings() if not e[1].startswith("result.")]
    assert len(api) == len(expected), "\n".join(f.message for f in api)
    for cell, call, hint in expected:
        finding = next((f for f in api if f.cell == cell and call in f.message.split("`")[1]), None)
        assert finding is not None, f"no finding for {call} in cell {cell}: {[f.message for f in api]}"
        assert finding.message.startswith(f"cell {cell + 1}: `")
        library = next(
            lib for lib in LIBRARIES if f"{lib} {new[lib]} (the kernel has {old[lib]})" in finding.message
        )
        assert finding.severity == ("warning" if "'" in call or "=" in call else "error"), finding
        if hint is not None:
            assert hint in (finding.hint or "") and "')" not in (finding.hint or ""), (call, finding.hint)
        else:
            assert library in (finding.hint or "")
    assert result.failed  # removed APIs block the push
    assert len({lib for lib in LIBRARIES for f in api if f" {lib} " in f.message}) == 3

    with_types = api_findings(
        cells_of(notebook),
        target_python=new_python,
        lock_versions=new,
        kernel_python=old_python,
        known_types=KNOWN_TYPES,
    )
    swapaxes = [f for f in with_types if "result.swapaxes" in f.message]
    assert len(swapaxes) == 1 and swapaxes[0].cell == 9
    assert "pandas.core.frame.DataFrame has no `swapaxes` in pandas" in swapaxes[0].message
    assert len(with_types) == len(expected) + 1


def test_the_same_notebook_against_the_versions_it_was_written_for_has_no_finding(envs, legacy):
    project, notebook = legacy
    (old_python, old), (new_python, _) = envs["old"], envs["new"]
    uses = notebook_api_uses(cells_of(notebook), KNOWN_TYPES)
    answers = run_probe(old_python, [{**u.check, "id": i} for i, u in enumerate(uses)])["results"]
    assert [(u.text, a["status"]) for u, a in zip(uses, answers, strict=True) if a["status"] != "ok"] == []
    assert {a["version"] for a in answers if a["dist"] == "pandas"} == {"1.5.3"}

    write_lock(project.root, old)
    result = preflight(
        project, notebook, target_python=old_python, kernel_python=old_python, driver="550.54.15"
    )
    assert "api" in result.checked
    assert [f for f in result.findings if f.check == "api"] == []
    # the kernel has current releases and the lock the old ones: the check runs and finds nothing missing
    kernel_new = api_findings(
        cells_of(notebook), target_python=old_python, lock_versions=old, kernel_python=new_python
    )
    assert kernel_new == []


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.ipynb")))
def test_no_false_alarm_on_the_example_notebooks(envs, example):
    (old_python, _), (new_python, new) = envs["old"], envs["new"]
    cells = cells_of(REPO / "examples" / example)
    found = api_findings(cells, target_python=new_python, lock_versions=new, kernel_python=old_python)
    assert found == [], [f.message for f in found]


def test_probe_answers_each_check_in_json():
    checks = [
        {"id": "gone", "probe": "attr", "module": "json", "attrs": ["no_such_name"]},
        {"id": "here", "probe": "attr", "module": "json", "attrs": ["decoder", "JSONDecoder"]},
        {"id": "bad", "probe": "attr", "module": "no_such_module_xyz", "attrs": ["x"]},
        {"id": "method", "probe": "method", "type": "collections.OrderedDict", "name": "move_to_end"},
        {"id": "choice", "probe": "choice", "list": "string.ascii_lowercase", "value": "q"},
        {"id": "odd", "probe": "no-such-kind"},
    ]
    answer = run_probe(sys.executable, checks)
    assert answer["python"] == ".".join(str(p) for p in sys.version_info[:3])
    results = {r["id"]: r for r in answer["results"]}
    assert results["gone"]["status"] == "missing"
    assert results["gone"]["owner"] == "json" and results["gone"]["name"] == "no_such_name"
    assert "no_such_name" in results["gone"]["message"]
    assert results["here"]["status"] == "ok"
    assert results["bad"]["status"] == "unresolved" and "no_such_module_xyz" in results["bad"]["message"]
    assert results["method"]["status"] == "ok"
    assert results["choice"]["status"] == "ok"
    assert results["odd"]["status"] == "unresolved"

    # `python -m` with the package folder on the path, and a malformed input: an error in JSON, status 2
    env = {**os.environ, "PYTHONPATH": str(PROBE_FILE.parents[2])}
    module = [sys.executable, "-m", "nblift.target.api_probe"]
    out = subprocess.run(
        module, input=json.dumps(checks[:1]), capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0 and json.loads(out.stdout)["results"][0]["status"] == "missing"
    out = subprocess.run(module, input="{not json", capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "not JSON" in json.loads(out.stdout)["error"]


def test_uses_follow_aliases_inferred_and_given_types_and_scopes():
    sources = [
        "import matplotlib.pyplot as plt\nfrom pandas import DataFrame as DF, read_csv\nimport numpy",
        "frame = DF({'a': [1]})\nframe.iteritems()\n"
        "other = read_csv('x.csv').dropna()\nother.lookup([0], ['a'])",
        "def f(frame):\n    return frame.iteritems()\narr = numpy.ones(2)\narr.itemset(0, 1)\n"
        "plt.style.context(['bmh', 'dark_background'])",
        "frame = make()\nframe.iteritems()\nmodel.fit()\n%time x = numpy.infty",
    ]
    cells = [{"cell_type": "code", "source": s} for s in sources]
    uses = notebook_api_uses(cells, {"model": "sklearn.linear_model.LogisticRegression"})
    seen = [
        (u.cell, u.text, u.check.get("type") or u.check.get("module") or u.check.get("list")) for u in uses
    ]
    assert (0, "from pandas import DataFrame", "pandas") in seen
    assert (1, "frame.iteritems(...)", "pandas.DataFrame") in seen
    assert (1, "other.lookup(...)", "pandas.DataFrame") in seen  # read_csv(...).dropna() keeps the type
    assert (2, "arr.itemset(...)", "numpy.ndarray") in seen
    assert [u.check["value"] for u in uses if u.check["probe"] == "choice"] == ["bmh", "dark_background"]
    assert (3, "model.fit(...)", "sklearn.linear_model.LogisticRegression") in seen
    assert (3, "numpy.infty", "numpy") in seen  # inside %time
    methods = [(u.cell, u.text) for u in uses if u.check["probe"] == "method"]
    assert (2, "frame.iteritems(...)") not in methods  # a parameter shadows the notebook's frame
    assert (3, "frame.iteritems(...)") not in methods  # reassigned from an unknown call


def test_an_interpreter_that_cannot_run_the_probe_is_an_info():
    cells = [{"cell_type": "code", "source": "import numpy as np\nx = np.zeros(2)"}]
    found = api_findings(cells, target_python="/nonexistent/bin/python", lock_versions={"numpy": "0.1"})
    assert [(f.severity, f.check) for f in found] == [("info", "api")]
    assert "could not run its probe" in found[0].message


def test_types_come_from_the_last_signed_snapshot_of_the_notebook_or_the_live_kernel(envs, legacy):
    from nblift.environment.api_uses import types_of_values
    from nblift.snapshot.manifest import FORMAT, sign_manifest, snapshots_dir

    project, notebook = legacy
    (old_python, _), (new_python, new) = envs["old"], envs["new"]
    write_lock(project.root, new)

    def api(**extra):
        result = preflight(
            project, notebook, target_python=new_python, kernel_python=old_python, driver="1", **extra
        )
        return [f for f in result.findings if f.check == "api" and "result.swapaxes" in f.message]

    assert api() == []  # no snapshot: `result` has no known type
    folder = snapshots_dir(project.state_dir)
    folder.mkdir(parents=True)

    def write_snapshot(sid: str, created: float, types: dict[str, str], signed: bool) -> None:
        manifest = {
            "format": FORMAT,
            "id": sid,
            "created": created,
            "notebook_path": notebook.name,
            "variables": {name: {"type": t} for name, t in types.items()},
        }
        (folder / f"{sid}.json").write_text(json.dumps(sign_manifest(manifest) if signed else manifest))

    write_snapshot("aaaa01", 1.0, KNOWN_TYPES, signed=True)
    (found,) = api()
    assert found.cell == 9 and "has no `swapaxes` in pandas" in found.message
    # a newer snapshot that is not signed with this user's key: its types are not used
    write_snapshot("aaaa02", 2.0, KNOWN_TYPES, signed=False)
    assert api() == []
    # the live kernel's variables win over any snapshot (what the magic passes)
    import pandas

    live = types_of_values({"result": pandas.DataFrame(), "n": 3, "f": lambda: 1})
    assert live == {"result": f"{pandas.DataFrame.__module__}.DataFrame"}  # pandas 3 says "pandas"
    assert len(api(known_types=live)) == 1


def test_the_magic_checks_methods_on_the_live_kernel_s_variables(envs, tmp_path, monkeypatch):
    """`%lift preflight --target-python ...` in a kernel: `frame` is a DataFrame in the kernel's namespace
    only, so `frame.map(...)` (pandas 2.1+) is checked against the lock's pandas 1.5 (the CLI cannot know)."""
    import pandas
    from IPython.core.interactiveshell import InteractiveShell

    # the test environment installs current pandas (DataFrame.map is 2.1+); an older one is a broken setup
    assert hasattr(pandas.DataFrame, "map"), f"pandas {pandas.__version__} is older than the tests need"
    old_python, old = envs["old"]
    root = tmp_path / "proj"
    root.mkdir()
    notebook = write_notebook(root / "kernel.ipynb", ["import pandas as pd", "labels = frame.map(str)"])
    write_lock(root, old)
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nblift")

    def api() -> list[dict]:
        line = f"-C {root} preflight --target-python {old_python} --driver 1"
        return [f for f in shell.run_line_magic("lift", line).data["findings"] if f["check"] == "api"]

    try:
        assert api() == []  # nothing says what `frame` is
        shell.user_ns["frame"] = pandas.DataFrame({"a": [1]})
        (found,) = api()
    finally:
        shell.run_line_magic("unload_ext", "nblift")
        shell.user_ns.pop("frame", None)
    assert found["cell"] == 2 and "`frame.map(...)`" in found["message"]
    assert "has no `map` in pandas 1.5.3" in found["message"]

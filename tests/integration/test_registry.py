"""The model registry from real kernels into the embedded MLflow store: scikit-learn and PyTorch models
registered from kernel variables with signature, lock-pinned requirements and lineage; promotion blocked and
allowed by gates (metrics, a check notebook through the run spine, approvals); overrides audited; model cards
with the real numbers; hostile names refused or escaped."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kernel_helpers import Kernel
from run_helpers import git, write_notebook

from nblift import tracking
from nblift.errors import InvalidInput
from nblift.project import Project
from nblift.registry import audit, card, catalog, promote
from nblift.snapshot import manifest as snapshots
from nblift.store import ObjectStore, hash_file

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POLICY = """
[tool.nblift.promotion.champion]
metrics = ["accuracy >= 0.8", "accuracy >= current.accuracy"]
checks = ["checks/validate.ipynb"]
approvals = 1
"""

# A lock that pins scipy at a version other than the installed one: the model's requirements must follow it.
LOCK = """
lock-version = "1.0"
requires-python = ">=3.11"
created-by = "test"

[[packages]]
name = "scipy"
version = "1.0.1"

[[packages]]
name = "scikit-learn"
version = "{sklearn}"
"""

TRAIN = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
model = LogisticRegression(C={c}, max_iter=300).fit(X, y)
nblift.log(accuracy={accuracy})
"""


@pytest.fixture
def project_dir(tmp_path):
    import sklearn

    (tmp_path / "pyproject.toml").write_text(POLICY)
    (tmp_path / "pylock.toml").write_text(LOCK.format(sklearn=sklearn.__version__))
    (tmp_path / "iris.csv").write_text("a,b\n1,2\n")
    write_notebook(tmp_path / "train.ipynb", "print('train')")
    (tmp_path / "checks").mkdir()
    write_notebook(
        tmp_path / "checks" / "validate.ipynb",
        "import nblift\nfrom sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)\n"
        "m = nblift.load_model(model_uri)\nassert (m.predict(X) == y).mean() > 0.9, 'too inaccurate'",
        parameters="model_uri = ''",
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    project = Project.discover(tmp_path)
    store = ObjectStore(project.ensure_state_dir())
    snapshots.save(
        store,
        {
            "format": snapshots.FORMAT,
            "id": "aaaa1111",
            "created": 1.0,
            "notebook_path": "train.ipynb",
            "variables": {},
        },
    )
    subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(tmp_path), "track", "iris.csv"],
        check=True,
        capture_output=True,
    )
    return tmp_path


@pytest.fixture
def kernel(project_dir):
    k = Kernel(
        project_dir, env={"JPY_SESSION_NAME": str(project_dir / "train.ipynb"), "NBLIFT_USER": "alice"}
    )
    k.run("%load_ext nblift\nimport nblift")
    yield k
    k.shutdown()


def register(kernel, c: float, accuracy: float) -> dict:
    kernel.run(TRAIN.format(c=c, accuracy=accuracy))
    shown = kernel.run("r = %lift --json register model --name iris --example X[:5]\nprint(r.text)")
    return json.loads(shown[shown.index("{") :])


def test_register_promote_audit_card(kernel, project_dir, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = Project.discover(project_dir)
    first = register(kernel, 1.0, 0.9)
    assert first["version"] == "1" and first["flavor"] == "sklearn"
    # the signature was inferred from the example: four float columns in, class labels out
    inputs = json.loads(first["signature"]["inputs"])
    assert len(inputs) == 1 and inputs[0]["type"] == "tensor" and inputs[0]["tensor-spec"]["shape"] == [-1, 4]
    # requirements come from the lock where it has the package, else the installed version (and say so)
    assert "scipy==1.0.1" in first["requirements"] and first["requirement_sources"]["scipy"] == "lock"
    assert first["requirement_sources"]["numpy"] == "installed"
    client = tracking.client(project)
    source = client.get_model_version("iris", "1").source
    local = client.download_artifacts(first["run_id"], first["tags"]["nblift.artifact_path"])
    reqs = Path(local, "requirements.txt").read_text()
    assert "scipy==1.0.1" in reqs and source.endswith(first["tags"]["nblift.artifact_path"])
    # lineage: the tracked notebook run that holds the metric, the notebook, snapshot, lock, data, commit
    tags = client.get_model_version("iris", "1").tags
    run = client.get_run(first["run_id"])
    assert run.data.metrics["accuracy"] == 0.9 and run.data.tags["nblift.kind"] == "track"
    assert tags["nblift.notebook"] == "train.ipynb"
    assert tags["nblift.snapshot"] == "aaaa1111"
    assert tags["nblift.lock"] == hash_file(project_dir / "pylock.toml")
    assert tags["nblift.git_commit"] == git(project_dir, "rev-parse", "HEAD")
    assert json.loads(tags["nblift.data"])[0]["hash"] == hash_file(project_dir / "iris.csv")
    assert tags["nblift.registered_by"] == "alice"
    graph = catalog.lineage(project, "iris", "1")
    kinds = {n["kind"] for n in graph["nodes"]}
    assert kinds == {"version", "run", "notebook", "snapshot", "environment", "data", "git"}
    assert {"from": "version:iris/1", "to": f"run:{first['run_id']}", "label": "trained in"} in graph["edges"]

    # blocked: the check notebook has not run and nobody approved; an override needs a reason
    blocked = promote.promote(project, "iris", "1", "champion", "alice")
    assert not blocked.promoted
    assert {g.kind: g.passed for g in blocked.gates} == {"metric": True, "check": False, "approvals": False}
    with pytest.raises(InvalidInput, match="needs a reason"):
        promote.promote(project, "iris", "1", "champion", "alice", override_reason="  ")
    forced = promote.promote(project, "iris", "1", "champion", "alice", override_reason="hotfix for demo")
    assert forced.promoted and forced.overridden
    assert promote.holder(client, "iris", "champion") == "1"

    # version 2 is worse than the champion: the comparison gate fails with the numbers
    second = register(kernel, 0.01, 0.85)
    assert second["version"] == "2"
    gates, _ = promote.evaluate(project, "iris", "2", "champion")
    compare = next(g for g in gates if g.label == "accuracy >= current.accuracy")
    assert not compare.passed and "0.85 vs 0.9" in compare.detail

    # version 3 passes once its check notebook ran and someone other than its registrant approved
    third = register(kernel, 1.0, 0.95)
    promote.decide(project, "iris", "3", "champion", "alice", approve=True)  # the registrant: not counted
    gate = next(g for g in promote.evaluate(project, "iris", "3", "champion")[0] if g.kind == "approvals")
    assert not gate.passed and "alice (registered it)" in gate.detail
    promote.decide(project, "iris", "3", "champion", "bob", approve=True)
    promote.decide(project, "iris", "3", "champion", "carol", approve=False, reason="needs a bias review")
    gate = next(g for g in promote.evaluate(project, "iris", "3", "champion")[0] if g.kind == "approvals")
    assert not gate.passed and "rejected by carol (needs a bias review)" in gate.detail
    promote.decide(project, "iris", "3", "champion", "carol", approve=True)
    run_ids = promote.run_checks(project, "iris", "3", "champion")
    assert len(run_ids) == 1
    done = promote.promote(project, "iris", third["version"], "champion", "bob")
    assert done.promoted and not done.overridden and done.previous == "1", [g.to_json() for g in done.gates]
    assert promote.holder(client, "iris", "champion") == "3"
    assert client.get_model_version("iris", "3").tags["nblift.gates.champion"] == "passed"

    trail = audit.entries(project, "iris")
    actions = [(e["action"], e["who"], e["version"]) for e in trail]
    assert ("override", "alice", "1") in actions and ("promote", "bob", "3") in actions
    override = next(e for e in trail if e["action"] == "override")
    assert override["reason"] == "hotfix for demo" and override["details"]["gates"]
    assert audit.verify(project) == []

    # the model card carries the real numbers; a filled-in field with markup stays text
    saved = card.save(project, "iris", "3", "bob", {"intended_use": "<script>alert(1)</script> teaching"})
    assert "0.95" in saved["markdown"] and "scipy==1.0.1" in saved["markdown"]
    assert (
        "<script>" not in saved["html"] and "&lt;script&gt;alert(1)&lt;/script&gt; teaching" in saved["html"]
    )
    stored = client.download_artifacts(
        third["run_id"], f"{third['tags']['nblift.artifact_path']}/model_card.md"
    )
    assert "teaching" in Path(stored).read_text()

    # the champion loads back in a fresh process as a scikit-learn object, without drift warnings
    code = textwrap.dedent(
        """
        import warnings, nblift
        from nblift.registry.load import EnvironmentDriftWarning
        from sklearn.datasets import load_iris
        warnings.simplefilter("error", EnvironmentDriftWarning)
        X, y = load_iris(return_X_y=True)
        m = nblift.load_model("models:/iris@champion")
        print(type(m).__name__, (m.predict(X) == y).mean() > 0.9)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project_dir, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["LogisticRegression", "True"]

    # tampering with the audit trail shows
    path = project.state_dir / audit.AUDIT_FILE
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["who"] = "mallory"
    path.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    assert any("changed after it was written" in p for p in audit.verify(project))


def test_pytorch_model_from_a_kernel_variable(kernel, project_dir):
    pytest.importorskip("torch", reason="no CPU build of torch installed (the torch tests need one)")
    kernel.run(
        "import numpy as np, torch\ntorch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))\n"
        "example = np.random.default_rng(0).normal(size=(5, 4)).astype('float32')\n"
        "expected = net(torch.as_tensor(example)).detach().numpy().tolist()"
    )
    shown = kernel.run("r = %lift --json register net --name torch-net --example example\nprint(r.text)")
    registered = json.loads(shown[shown.index("{") :])
    assert registered["flavor"] == "pytorch"
    outputs = json.loads(registered["signature"]["outputs"])
    assert outputs[0]["tensor-spec"]["shape"] == [-1, 3]
    assert any(r.startswith("torch==") for r in registered["requirements"])
    same = kernel.run(
        "m = nblift.load_model('models:/torch-net/1')\n"
        "print(np.allclose(m(torch.as_tensor(example)).detach().numpy(), expected))"
    )
    assert same.strip().endswith("True")


def test_hostile_names_and_bad_input_are_refused(kernel, project_dir):
    kernel.run(TRAIN.format(c=1.0, accuracy=0.9))
    for name in ("../evil", "a/b", "<img src=x onerror=alert(1)>", "..", "x\\y"):
        out = kernel.run(f"%lift register model --name '{name}' --example X[:5]", allow_error=True)
        assert "cannot be a model name" in out, out
    out = kernel.run("%lift register nothing_here --name ok --example X[:5]", allow_error=True)
    assert "no variable named 'nothing_here'" in out
    out = kernel.run("%lift register model --name ok --example 'X[:5, :2]'", allow_error=True)
    assert "failed on the input example" in out
    out = kernel.run("%lift register model --name ok --example X[:5] --alias champion", allow_error=True)
    assert "gated by the promotion policy" in out
    assert catalog.list_models(Project.discover(project_dir))["models"] == []  # nothing half-registered


def test_drift_names_the_required_packages_that_changed():
    import numpy
    import sklearn

    from nblift.registry.load import drift

    recorded = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        "packages": {"scikit-learn": "0.24.2", "numpy": numpy.__version__, "left-pad": "1.0"},
        "requirements": ["scikit-learn==0.24.2", f"numpy=={numpy.__version__}"],
    }
    changes = drift(recorded)
    assert len(changes) == 1 and "scikit-learn" in changes[0] and sklearn.__version__ in changes[0]
    same = {**recorded["packages"], "scikit-learn": sklearn.__version__}
    assert drift({**recorded, "packages": same}) == []

"""`%lift register VAR --name NAME`: a kernel variable becomes an MLflow model version.

The model is saved with its own MLflow flavor (scikit-learn, PyTorch, XGBoost, LightGBM; any object with
`predict()` or a callable through a generic pyfunc wrapper), with a signature inferred from an input example
the user names, and requirements pinned at the project's lock (installed versions only where the lock does
not have the package, said so in the result). The version's tags link it to its MLflow run, the notebook,
its newest snapshot, the lock, the tracked data and the git commit; the environment it was made in travels
inside the model folder so `load_model` can warn about drift.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from .. import tracking
from ..errors import InvalidInput, NbliftError
from ..project import Project
from .names import check_alias, check_name

FLAVORS = ("sklearn", "pytorch", "xgboost", "lightgbm", "pyfunc")
#: The packages each flavor needs to load the model, besides those its classes come from.
_BASE = {
    "sklearn": ("scikit-learn", "numpy", "scipy", "skops"),
    "pytorch": ("torch", "numpy", "cloudpickle"),
    "xgboost": ("xgboost", "numpy", "scikit-learn"),
    "lightgbm": ("lightgbm", "numpy", "scikit-learn"),
    "pyfunc": ("numpy", "cloudpickle"),
}
ENV_FILE = "nblift-environment.json"
TAG_MAX = 4900


def flavor_of(model: Any) -> str:
    """The MLflow flavor that saves `model` natively, else `pyfunc` for anything with predict() or a call."""
    modules = [cls.__module__ for cls in type(model).__mro__]
    for flavor, prefix in (("xgboost", "xgboost"), ("lightgbm", "lightgbm"), ("sklearn", "sklearn")):
        if any(m == prefix or m.startswith(prefix + ".") for m in modules):
            return flavor
    if any(m.startswith("torch.nn") for m in modules):
        return "pytorch"
    if callable(getattr(model, "predict", None)) or callable(model):
        return "pyfunc"
    raise InvalidInput(
        f"cannot register a {type(model).__name__}: it is not a scikit-learn, PyTorch, XGBoost or LightGBM "
        "model, has no predict() and is not callable",
        hint="register the fitted model object (or a function that predicts)",
    )


def _predict(model: Any, flavor: str, example: Any) -> Any:
    """What the model gives for `example` (to infer the output side of the signature)."""
    if flavor == "pytorch":
        import numpy as np
        import torch

        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(example)))
        return out.detach().cpu().numpy()
    if callable(getattr(model, "predict", None)):
        return model.predict(example)
    return model(example)


def _signature(model: Any, flavor: str, example: Any) -> Any:
    from mlflow.models import infer_signature

    try:
        output = _predict(model, flavor, example)
    except Exception as exc:  # noqa: BLE001 - the user's model: any failure is theirs to fix
        raise InvalidInput(
            f"the model failed on the input example ({type(exc).__name__}: {exc})",
            hint="name an input example the model accepts, as you would call predict() on it",
        ) from None
    return infer_signature(example, output)


def _modules_of(model: Any) -> set[str]:
    """Top-level modules the model's classes come from (a pipeline's steps included)."""
    found = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            for value in get_params(deep=True).values():
                found |= {cls.__module__.split(".")[0] for cls in type(value).__mro__}
        except Exception:  # noqa: BLE001, S110 - a broken third-party get_params: its class is enough
            pass
    if hasattr(model, "modules") and callable(
        model.modules
    ):  # torch: submodules may come from other libraries
        found |= {type(m).__module__.split(".")[0] for m in model.modules()}
    return found - set(sys.stdlib_module_names) - {"builtins", "__main__"}


def requirements(project: Project, model: Any, flavor: str) -> tuple[list[str], dict[str, str]]:
    """Pinned requirements for the model and where each pin came from (`lock` or `installed`)."""
    from ..environment.capture import canonical

    mapping = importlib.metadata.packages_distributions()
    names = {canonical(n) for n in _BASE[flavor]}
    for module in _modules_of(model):
        names |= {canonical(d) for d in mapping.get(module, ())}
    locked: dict[str, str] = {}
    lock_file = project.root / "pylock.toml"
    if lock_file.is_file():
        from ..environment.lock import read_lock

        locked = dict(read_lock(lock_file).packages)
    pins: list[str] = []
    sources: dict[str, str] = {}
    for name in sorted(names):
        if locked.get(name):
            pins.append(f"{name}=={locked[name]}")
            sources[name] = "lock"
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins.append(f"{name}=={version}")
        sources[name] = "installed"
    return pins, sources


class _Wrapped:
    """A pyfunc PythonModel around an object with predict() or a callable (built lazily: imports mlflow)."""

    @staticmethod
    def make(obj: Any) -> Any:
        import mlflow.pyfunc

        class NbliftPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
                fn = getattr(self.inner, "predict", None)
                return fn(model_input) if callable(fn) else self.inner(model_input)

        return NbliftPyfunc(obj)


def _save(model: Any, flavor: str, path: Path, signature: Any, example: Any, pins: list[str]) -> None:
    import importlib

    kwargs: dict[str, Any] = {"signature": signature, "input_example": example, "pip_requirements": pins}
    if flavor == "pyfunc":
        import mlflow.pyfunc

        mlflow.pyfunc.save_model(str(path), python_model=_Wrapped.make(model), **kwargs)
        return
    if flavor == "sklearn":
        # MLflow saves scikit-learn models with skops, which refuses types it cannot vouch for (a tree's node
        # storage); these are the types of the object the user just fitted in their own kernel: trusted.
        import skops.io

        kwargs["skops_trusted_types"] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    module = importlib.import_module(f"mlflow.{flavor}")
    module.save_model(model, str(path), **kwargs)


def _lock_id(project: Project) -> str | None:
    lock_file = project.root / "pylock.toml"
    if not lock_file.is_file():
        return None
    from ..store import hash_file

    return hash_file(lock_file)


def _target_run(project: Project, name: str) -> tuple[str, bool]:
    """The MLflow run the model is logged into: the `nblift run`'s, the tracked notebook run, the run
    `nblift.log` writes to; else a new run of this notebook (created here, closed after). Pending metrics
    are written first, so gates see them."""
    from ..experiments import logger, track

    current = logger.current()
    if current is not None:
        current.flush(timeout=30)
    if os.environ.get("NBLIFT_RUN_DIR") and os.environ.get("MLFLOW_RUN_ID"):
        return os.environ["MLFLOW_RUN_ID"], False
    if track._explicit.get("run_id"):
        return str(track._explicit["run_id"]), False
    if current is not None and current.run_id:
        return current.run_id, False
    return track.start_run(project, f"register {name}", autolog=False), True


def actor() -> str:
    """Who acts, outside the Jupyter server (see `nblift.identity`: one name in every door)."""
    from ..identity import local_name

    return local_name()


@dataclasses.dataclass
class Registered:
    name: str
    version: str
    flavor: str
    run_id: str
    source: str
    alias: str | None
    signature: dict[str, Any]
    requirements: list[str]
    requirement_sources: dict[str, str]
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "uri": self.uri}


def register(
    project: Project,
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    alias: str | None = None,
    description: str | None = None,
    variable: str | None = None,
) -> Registered:
    """Log `model` into the notebook's MLflow run and register it as a new version of `name`."""
    check_name(name)
    if alias is not None:
        check_alias(alias)
        from .policy import policy_for

        if policy_for(project, alias) is not None:
            raise InvalidInput(
                f"alias {alias!r} is gated by the promotion policy",
                hint=f"register without --alias, then `%lift promote {name} VERSION --to {alias}`",
            )
    flavor = flavor_of(model)
    if input_example is None:
        raise InvalidInput(
            "an input example is needed to infer the model's signature",
            hint="name one: `%lift register model --name NAME --example X_test[:5]`",
        )
    signature = _signature(model, flavor, input_example)
    pins, sources = requirements(project, model, flavor)
    from mlflow.exceptions import MlflowException

    from ..environment.capture import capture
    from ..lineage import notebook_tags
    from ..snapshot.context import data_hashes, tracked_paths

    client = tracking.client(project)
    run_id, created = _target_run(project, name)
    try:
        run = client.get_run(run_id)
        tags = {
            "nblift.flavor": flavor,
            "nblift.run": run_id,
            "nblift.registered_by": actor(),
        }
        if variable:
            tags["nblift.variable"] = variable
        run_tags = run.data.tags
        for key, tag in (
            ("mlflow.source.name", "nblift.notebook"),
            ("mlflow.source.git.commit", "nblift.git_commit"),
            ("nblift.snapshot", "nblift.snapshot"),
            ("nblift.run_id", "nblift.nblift_run"),
        ):
            if run_tags.get(key):
                tags[tag] = run_tags[key]
        if "nblift.notebook" in tags and "nblift.snapshot" not in tags:
            found = notebook_tags(project, tags["nblift.notebook"]).get("nblift.snapshot")
            if found:
                tags["nblift.snapshot"] = found
        metrics = json.dumps(run.data.metrics, sort_keys=True, separators=(",", ":"))
        if len(metrics) <= TAG_MAX:
            tags["nblift.metrics"] = metrics  # the numbers as they were when this version was made
        lock = run_tags.get("nblift.lock") or _lock_id(project)
        if lock:
            tags["nblift.lock"] = lock
        data = [d for d in data_hashes(project.root, tracked_paths(project.state_dir)) if d["hash"]]
        if data:
            tags["nblift.data"] = json.dumps(data, separators=(",", ":"))[:TAG_MAX]
        env = capture(gpu=False)
        with tempfile.TemporaryDirectory(prefix="nblift-model-") as tmp:
            folder = Path(tmp) / "model"
            _save(model, flavor, folder, signature, input_example, pins)
            recorded = {
                "python": env.python,
                "platform": env.platform,
                "cuda": env.cuda,
                "packages": dict(env.packages),
                "requirements": pins,
            }
            (folder / ENV_FILE).write_text(json.dumps(recorded, indent=1, sort_keys=True), encoding="utf-8")
            artifact_path = f"models/{uuid.uuid4().hex[:12]}"
            client.log_artifacts(run_id, str(folder), artifact_path)
        tags["nblift.artifact_path"] = artifact_path
        source = f"{run.info.artifact_uri}/{artifact_path}"
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(
            name, source, run_id=run_id, tags=tags, description=description or None
        )
        if alias is not None:
            client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as exc:
        raise NbliftError(f"the registry refused the model: {exc.message}", hint="see the message") from None
    finally:
        if created:
            client.set_terminated(run_id, "FINISHED")
    from . import audit, card

    audit.record(project, "register", name, str(version.version), actor(), alias=alias)
    if alias is not None:
        audit.record(project, "alias", name, str(version.version), actor(), alias=alias)
    card.save(project, name, str(version.version), actor())
    return Registered(
        name=name,
        version=str(version.version),
        flavor=flavor,
        run_id=run_id,
        source=source,
        alias=alias,
        signature=signature.to_dict() if signature is not None else {},
        requirements=pins,
        requirement_sources=sources,
        tags=tags,
    )

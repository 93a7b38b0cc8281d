"""`nblift.load_model("models:/NAME@champion")`: the model back as its own framework's object, with a
warning when the running environment drifts from the one it was registered with."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from .. import tracking
from ..errors import NotFound
from ..project import Project
from .names import parse_model_uri
from .register import ENV_FILE


class EnvironmentDriftWarning(UserWarning):
    """The kernel's packages differ from those the model was registered with."""


def drift(recorded: dict[str, Any]) -> list[str]:
    """What differs between this interpreter and the model's recorded environment, for the packages the
    model requires (and Python's minor version)."""
    from ..environment.capture import canonical, capture
    from ..environment.diff import EnvView, diff_views, kernel_view

    required = {canonical(r.split("==")[0]) for r in recorded.get("requirements", [])}
    packages = {
        canonical(k): str(v) for k, v in (recorded.get("packages") or {}).items() if canonical(k) in required
    }
    theirs = EnvView("registered", recorded.get("python"), recorded.get("platform"), None, None, packages)
    mine = kernel_view(capture(gpu=False))
    mine = EnvView(
        mine.label,
        mine.python,
        mine.platform,
        None,
        None,
        {k: v for k, v in mine.packages.items() if k in required},
    )
    return [c.message for c in diff_views(theirs, mine).changes if c.severity in ("error", "warning")]


def load_model(uri: str, *, project: Project | None = None) -> Any:
    """Load a registered model (`models:/NAME@ALIAS` or `models:/NAME/VERSION`) with its native flavor."""
    import importlib

    import mlflow

    name, version, alias = parse_model_uri(uri)
    project = project or Project.discover()
    client = tracking.client(project)
    from mlflow.exceptions import MlflowException

    try:
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, version)
        )
    except MlflowException:
        raise NotFound(f"{uri} is not in the registry", hint="see `nblift models`") from None
    flavor = (mv.tags or {}).get("nblift.flavor") or "pyfunc"
    with tracking.quiet_downloads():
        store = tracking.engine_uri(tracking.target_for(project))
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, tracking_uri=store))
    env_file = local / ENV_FILE
    if env_file.is_file():
        changes = drift(json.loads(env_file.read_text(encoding="utf-8")))
        if changes:
            warnings.warn(
                f"{name} v{mv.version} was registered in another environment: "
                + "; ".join(changes)
                + " (predictions may differ; `%lift env diff` shows all drift)",
                EnvironmentDriftWarning,
                stacklevel=2,
            )
    module = importlib.import_module(f"mlflow.{flavor}")
    model = module.load_model(str(local))
    if flavor == "pyfunc":
        inner = model.unwrap_python_model()
        return getattr(inner, "inner", model)
    return model

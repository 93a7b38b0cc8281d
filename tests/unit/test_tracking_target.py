"""Which tracking store a project uses."""

from __future__ import annotations

from nblift.project import Project
from nblift.tracking import target_for


def test_a_uri_naming_the_projects_own_database_is_still_embedded(tmp_path):
    """MLflow's set_tracking_uri (autologging uses it) exports the URI; it is not a server."""
    from nblift.tracking import engine_uri

    project = Project.discover(tmp_path, environ={})
    own = engine_uri(target_for(project))
    again = Project.discover(tmp_path, environ={"MLFLOW_TRACKING_URI": own})
    assert target_for(again).embedded
    other = Project.discover(tmp_path, environ={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'other.db'}"})
    assert not target_for(other).embedded

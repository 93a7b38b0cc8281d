"""The launch dialog's list: configured ssh hosts and Ray clusters replace the bare backend kinds."""

from __future__ import annotations

import pytest

from nblift.errors import ConfigError, InvalidInput
from nblift.project import Project
from nblift.runs.service import launch_targets

SETTINGS = """
[tool.nblift.ssh_hosts.gpu1]
host = "203.0.113.7"
gpus = "0,1"

[tool.nblift.ssh_hosts.lab]

[tool.nblift.ray_clusters.big]
address = "http://127.0.0.1:8265"
storage = "s3://bucket/nblift"
num_gpus = 2
gpu_type = "A100"
"""


def test_targets_are_listed_with_their_gpus(tmp_path):
    (tmp_path / "pyproject.toml").write_text(SETTINGS)
    listed = {t["name"]: t for t in launch_targets(Project.discover(tmp_path, environ={}))}
    assert listed["ssh:gpu1"]["gpus"] == "0,1" and listed["ssh:lab"]["gpus"] == "all"
    assert listed["ray:big"]["gpus"] == "2 x A100" and listed["ray:big"]["source"] == "settings"
    assert "ssh" not in listed and "ray" not in listed and listed["local"]["gpus"] is None


def test_without_targets_the_kinds_stay(tmp_path):
    listed = {t["name"] for t in launch_targets(Project.discover(tmp_path, environ={}))}
    assert {"local", "ssh", "ray"} <= listed


@pytest.mark.parametrize(
    ("table", "error", "says"),
    [
        ('[tool.nblift.ssh_hosts.box]\nport = "22"\n', ConfigError, "port must be a whole number"),
        ('[tool.nblift.ssh_hosts.box]\npasword = "x"\n', ConfigError, "unknown key 'pasword'"),
        ('[tool.nblift.ssh_hosts."a;b"]\n', ConfigError, "target name"),
        ('[tool.nblift.ray_clusters.big]\naddress = "http://h:8265"\n', InvalidInput, "no storage"),
        (
            '[tool.nblift.ray_clusters.big]\naddress = "http://h:8265"\nstorage = "/mnt/shared"\n',
            InvalidInput,
            "s3:// URI",
        ),
    ],
)
def test_bad_targets_name_the_problem(tmp_path, table, error, says):
    (tmp_path / "pyproject.toml").write_text(table)
    with pytest.raises(error, match=says):
        launch_targets(Project.discover(tmp_path, environ={}))

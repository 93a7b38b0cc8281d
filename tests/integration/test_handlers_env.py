"""REST routes of the Environments panel: preflight of a notebook, drift between environments, the lock."""

from __future__ import annotations

import json

import nbformat
import pytest
from test_handlers import body_of, openapi_doc, response_validator
from tornado.httpclient import HTTPClientError


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, path)


async def test_preflight_names_the_cell_with_a_secret(jp_fetch, jp_root_dir):
    leaked = nbformat.v4.new_code_cell("print(key)")
    leaked.outputs = [nbformat.v4.new_output("stream", text="ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")]
    _notebook(jp_root_dir / "train.ipynb", [nbformat.v4.new_code_cell("import json"), leaked])
    response = await jp_fetch("nblift", "api", "env", "preflight", params={"path": "train.ipynb"})
    data = body_of(response)
    response_validator(openapi_doc(), "/nblift/api/env/preflight", "get", 200).validate(data)
    secrets = [f for f in data["findings"] if f["check"] == "secrets"]
    assert secrets and secrets[0]["severity"] == "error" and secrets[0]["cell"] == 1
    assert data["failed"] is True
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in json.dumps(data)


@pytest.mark.parametrize("side", ["kernel", "../pylock.toml", "/etc/passwd", "lock;rm"])
async def test_env_diff_refuses_anything_but_lock_or_a_snapshot(jp_fetch, side):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "env", "diff", params={"a": side, "b": "lock"})
    assert err.value.code == 400
    assert "use `lock` or a snapshot id" in json.loads(err.value.response.body)["hint"]


async def test_preflight_needs_a_notebook(jp_fetch, jp_root_dir):
    (jp_root_dir / "notes.txt").write_text("x")
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "env", "preflight", params={"path": "notes.txt"})
    assert err.value.code == 400


async def test_lock_missing_says_how_to_make_one(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "env", "lock")
    assert err.value.code == 404
    assert "%lift pin" in json.loads(err.value.response.body)["hint"]

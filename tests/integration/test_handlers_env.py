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


async def test_kernel_environment_is_read_in_the_kernels_interpreter(jp_fetch, jp_root_dir):
    """The panel asks the server, which runs a helper in the kernel's interpreter: no kernel output parsed."""
    import platform

    kernel = body_of(await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"})))
    try:
        query = {"kernel": kernel["id"]}
        reply = body_of(await jp_fetch("nblift", "api", "env", "kernel", params=query))
        response_validator(openapi_doc(), "/nblift/api/env/kernel", "get", 200).validate(reply)
        assert reply["show"]["python"] == platform.python_version()
        assert "tornado" in reply["show"]["packages"]
        assert reply["diff"] is None  # no lock yet

        (jp_root_dir / "pylock.toml").write_text(
            'lock-version = "1.0"\nrequires-python = ">=3.11"\n\n'
            '[[packages]]\nname = "nblift-no-such-package"\nversion = "1.0"\n'
        )
        reply = body_of(await jp_fetch("nblift", "api", "env", "kernel", params=query))
        names = {c["name"] for c in reply["diff"]["changes"]}
        assert "nblift-no-such-package" in names and "tornado" in names  # each side's extra package
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")


@pytest.mark.parametrize(
    ("kernel", "code"), [("0123abcd-0000-4000-8000-000000000000", 404), ("not a kernel", 400), ("", 400)]
)
async def test_kernel_environment_needs_a_running_kernel(jp_fetch, kernel, code):
    for call in (
        jp_fetch("nblift", "api", "env", "kernel", params={"kernel": kernel}),
        jp_fetch("nblift", "api", "env", "pin", method="POST", body=json.dumps({"kernel": kernel})),
    ):
        with pytest.raises(HTTPClientError) as caught:
            await call
        assert caught.value.code == code
        assert "kernel" in body_of(caught.value.response)["message"]


@pytest.mark.parametrize(("kernel", "code"), [("0123abcd-0000-4000-8000-000000000000", 404), ("x;rm", 400)])
async def test_preflight_names_a_bad_kernel_with_a_4xx(jp_fetch, jp_root_dir, kernel, code):
    _notebook(jp_root_dir / "train.ipynb", [nbformat.v4.new_code_cell("import json")])
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "env", "preflight", params={"path": "train.ipynb", "kernel": kernel})
    assert err.value.code == code
    assert json.loads(err.value.response.body)["hint"]

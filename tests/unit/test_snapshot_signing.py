"""The snapshot signing key (0600 file in a 0700 folder, refused when others can reach it) and HMAC checks."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from nblift.errors import NbliftError
from nblift.snapshot.signing import (
    KEY_BYTES,
    canonical_json,
    default_key_path,
    load_or_create_key,
    sign,
    verify,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_default_key_path_follows_xdg_and_the_override(data_home, monkeypatch, tmp_path):
    assert default_key_path() == data_home / "nblift" / "snapshot_secret"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_key_path() == Path.home() / ".local" / "share" / "nblift" / "snapshot_secret"
    monkeypatch.setenv("NBLIFT_SECRET_FILE", str(tmp_path / "elsewhere" / "key"))
    assert default_key_path() == tmp_path / "elsewhere" / "key"


def test_the_key_is_created_private_and_reused(data_home):
    key = load_or_create_key()
    path = default_key_path()
    assert len(key) == KEY_BYTES
    assert path.read_bytes() == key
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert load_or_create_key() == key
    assert load_or_create_key(path) == key
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left behind


def test_racing_creators_agree_on_one_key(tmp_path):
    path = tmp_path / "keys" / "secret"
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_key(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert results[0] == path.read_bytes()


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o620, 0o602, 0o660])
def test_a_key_others_can_reach_is_refused(tmp_path, loose):
    path = tmp_path / "secret"
    load_or_create_key(path)
    path.chmod(loose)
    with pytest.raises(NbliftError, match="other users") as info:
        load_or_create_key(path)
    assert "chmod 600" in info.value.hint


def test_a_key_of_the_wrong_size_or_kind_is_refused(tmp_path):
    short = tmp_path / "short"
    short.write_bytes(b"x" * 5)
    short.chmod(0o600)
    with pytest.raises(NbliftError, match="5 bytes long"):
        load_or_create_key(short)
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    with pytest.raises(NbliftError, match="not a regular file"):
        load_or_create_key(folder)


def test_a_key_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(NbliftError, match="can be written by other users"):
        load_or_create_key(folder / "secret")
    assert not (folder / "secret").exists()


def test_sign_and_verify():
    key = os.urandom(KEY_BYTES)
    payload = canonical_json({"id": "abc123", "variables": {"x": {"encoding": "ff" * 32}}})
    signature = sign(payload, key)
    assert len(signature) == 64
    assert verify(payload, signature, key)
    assert not verify(payload, signature, os.urandom(KEY_BYTES))


def test_a_one_byte_change_breaks_the_signature():
    key = os.urandom(KEY_BYTES)
    payload = b'{"id":"abc123","objects":["00"]}'
    signature = sign(payload, key)
    for i in range(len(payload)):
        changed = bytearray(payload)
        changed[i] ^= 0x01
        assert not verify(bytes(changed), signature, key)
    for i in range(len(signature)):
        forged = signature[:i] + ("0" if signature[i] != "0" else "1") + signature[i + 1 :]
        assert not verify(payload, forged, key)
    assert not verify(payload, signature[:-1], key)
    assert not verify(payload, "", key)
    assert not verify(payload, "é" * 64, key)
    assert not verify(payload, None, key)  # a manifest may carry anything


def test_canonical_json_is_deterministic_and_ascii():
    a = canonical_json({"b": [1, 2.5, None], "a": {"é": "ü", "z": True}})
    b = canonical_json({"a": {"z": True, "é": "ü"}, "b": (1, 2.5, None)})
    assert a == b
    assert a == b'{"a":{"z":true,"\\u00e9":"\\u00fc"},"b":[1,2.5,null]}'
    a.decode("ascii")

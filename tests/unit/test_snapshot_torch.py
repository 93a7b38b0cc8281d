"""PyTorch values with the real torch CPU build: stored device-neutral, placed on this machine's device."""

from __future__ import annotations

from pathlib import Path

import pytest

from nblift.snapshot.codec import decode, encode_value
from nblift.store import ObjectStore

torch = pytest.importorskip(
    "torch", reason="torch is not installed here (./dev test installs the CPU build when found)"
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    s = ObjectStore(tmp_path / ".nblift")
    s.state_dir.mkdir()
    return s


def test_tensor_round_trip_is_device_neutral(store: ObjectStore) -> None:
    tensor = torch.arange(24, dtype=torch.float16).reshape(2, 3, 4)
    enc = encode_value(tensor, store)
    assert enc.kind == "torch"
    assert enc.meta["device"] == "cpu"
    back = decode(enc, store)
    assert isinstance(back, torch.Tensor)
    assert back.dtype == torch.float16
    assert torch.equal(back, tensor)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert back.device.type == expected


def test_equal_tensors_store_once(store: ObjectStore) -> None:
    tensor = torch.randn(256, 256)
    first = encode_value(tensor, store)
    written = store.bytes_written
    second = encode_value(tensor.clone(), store)
    assert first.fingerprint == second.fingerprint
    assert store.bytes_written == written


def test_explicit_device_and_a_module(store: ObjectStore) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    enc = encode_value(model, store)
    back = decode(enc, store)
    x = torch.ones(2, 4)
    assert torch.equal(back(x), model(x))
    state = encode_value(model.state_dict(), store)
    restored = decode(state, store)
    assert set(restored) == set(model.state_dict())
    tensor_enc = encode_value(torch.ones(3, requires_grad=True), store)
    placed = decode(tensor_enc, store, device="cpu")
    assert placed.requires_grad

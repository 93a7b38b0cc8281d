"""Run backends: where a notebook run executes. Found by name through a lazy registry."""

from .registry import BackendSpec, available_backends, get_backend_class, register_backend

__all__ = ["BackendSpec", "available_backends", "get_backend_class", "register_backend"]

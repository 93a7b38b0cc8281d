"""The one exception root of nblift. Every message says what to do next."""

from __future__ import annotations


class NbliftError(Exception):
    """Base class of every error nblift raises on purpose.

    `hint` tells the user what to do about it; front doors show it beside the message.
    """

    status_code = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(NbliftError):
    """A setting is malformed or has the wrong type."""

    status_code = 400


class InvalidInput(NbliftError):
    """A caller passed a value that cannot be used (bad path, bad id, bad URI)."""

    status_code = 400


class TooLarge(NbliftError):
    """A request body or value is larger than nblift accepts."""

    status_code = 413


class NotFound(NbliftError):
    """The thing asked for does not exist."""

    status_code = 404


class ObjectCorrupt(NbliftError):
    """A stored object's content no longer matches its hash."""

    status_code = 500


class BackendUnavailable(NbliftError):
    """A run backend was asked for whose optional dependencies are not installed."""

    status_code = 400

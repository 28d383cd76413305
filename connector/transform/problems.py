"""Why a property value cannot be used, said without quoting the value."""

from __future__ import annotations


class Invalid(Exception):
    """A property value is unusable. `code` is a stable machine name, `message` never holds a value.

    Normalisers raise it; the transformer turns it into a warning (optional field: dropped) or a
    rejection (required field). It never leaves the transform package.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def type_name(value: object) -> str:
    """The type of a value for a message (`list`, `bool`), which is never PII."""
    return type(value).__name__

"""A pydantic validation error as the one sentence a user reads (model metadata, training configs)."""

from __future__ import annotations

import re

from pydantic import ValidationError

__all__ = ["first_error", "name_of", "shown"]

#: Names pydantic gives the branches of a union and its types: its machinery, not a field.
_MACHINERY = re.compile(r"[\[\-]|^(int|float|str|bool|none|dict|list|union)$")
#: Errors about a number's type, whichever branch of an int-or-float union reported them.
_NUMBER_TYPES = {"int_type", "float_type", "int_parsing", "float_parsing"}


def shown(value: object, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters: a value quoted in a sentence."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "..."


def name_of(key: object) -> str:
    """A field or option name as a sentence shows it: plain if it is one, else quoted."""
    text = str(key)
    return text if re.fullmatch(r"[\w.]{1,64}", text) else shown(text)


def first_error(exc: ValidationError, source: str) -> str:
    """The first problem pydantic found, e.g. ``"c.yaml: trainer.devices: Input should be ..."``.

    The field is named as a dotted path; a whole-document rule's message stands alone.
    """
    error = exc.errors()[0]
    parts = [name_of(p) for p in error["loc"] if not _MACHINERY.search(str(p))]
    message = " ".join(error["msg"].removeprefix("Value error, ").split()).rstrip(".")
    if error["type"] in _NUMBER_TYPES:
        union = any(str(p) in ("int", "float") for p in error["loc"])  # an int-or-float field
        kind = "a number" if union or error["type"].startswith("float") else "a whole number"
        message = f"Input should be {kind}, got {shown(error['input'])}"
    return f"{source}: {'.'.join(parts)}: {message}." if parts else f"{source}: {message}."

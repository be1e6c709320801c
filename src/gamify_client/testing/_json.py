"""The backend's JSON codec: orjson encodes when it is installed (the ``server`` extra brings
it), else the standard library, with the same results.

Answers and stored documents are encoded compactly, as ``JSON.stringify`` writes them. orjson
is several times faster; what it does not take (text keys that are not ``str``, integers
beyond 64 bits) goes to the standard library, which answers or fails as it always did. The one
visible difference: a float under 1e-4 is written as JavaScript writes it (``0.00001``), where
the standard library writes ``1e-05``.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server extra installs it
    _orjson = None

# Without these, orjson would write dates and dataclasses, which the standard library
# refuses: refused, they go to the standard library and fail there, as before.
_OPTIONS = (
    0 if _orjson is None else _orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS
)


def encode(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    return encode_checked(value)[0]


def encode_checked(value: Any) -> tuple[bytes, bool]:
    """``value`` as compact UTF-8 JSON, and whether :func:`decode` may read it back with
    ``fast=True``: when orjson wrote it, it holds no integer orjson cannot read exactly."""
    if _orjson is not None:
        try:
            encoded: bytes = _orjson.dumps(value, option=_OPTIONS)
        except TypeError:
            pass
        else:
            return encoded, True
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), False


def decode(text: str | bytes, *, fast: bool = False) -> Any:
    """The value of the JSON ``text``, read by the standard library unless ``fast`` (the text
    came from :func:`encode_checked`, which said it may): orjson reads an integer beyond 64 bits
    as a float, so it reads only what it wrote itself."""
    if fast and _orjson is not None:
        return _orjson.loads(text)
    return json.loads(text)

"""The reference backend's JSON codec (``testing._json``): the standard library's results,
whichever encoder runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client.testing import _json
from gamify_client.testing._express import decoded_json, json_response


def _standard(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# Floats at or above 1e-4 in size (and zero): below it the codec writes them as JavaScript does.
_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda number: number == 0 or abs(number) >= 1e-4
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | _floats
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
def test_encoding_writes_what_the_standard_library_writes(value: Any) -> None:
    try:
        expected = _standard(value)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            _json.encode(value)
        return
    assert _json.encode(value) == expected
    assert _json.decode(expected) == json.loads(expected)
    assert _json.decode(expected.decode()) == json.loads(expected)


def test_what_the_standard_library_refuses_is_still_refused() -> None:
    for refused in ({"when": object()}, [{1, 2}]):
        with pytest.raises(TypeError):
            _json.encode(refused)


def test_nan_in_stored_text_reads_back() -> None:
    assert _json.decode('{"x":NaN}')["x"] != _json.decode('{"x":NaN}')["x"]


def test_an_answer_keeps_the_value_it_was_encoded_from() -> None:
    payload = {"success": True, "items": [1, "two"]}
    response = json_response(200, payload)
    assert json.loads(response.body) == payload
    assert decoded_json(response.body) is payload
    assert decoded_json(response.body[:-1] + b"}") == payload

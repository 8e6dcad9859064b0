import pytest

from kernel.errors import ValidationFailed
from kernel.ids import new_id
from kernel.pagination import decode_cursor, encode_cursor


def test_cursor_round_trip():
    for prefix in ("ast", "org", "aud"):
        value = new_id(prefix)
        assert decode_cursor(encode_cursor(value)) == value


@pytest.mark.parametrize("bad", ["", "@@@@", "bm90LWFuLWlk", encode_cursor("ast_' OR 1=1 --"), "YXN0X3g"])
def test_bad_cursors(bad):
    with pytest.raises(ValidationFailed):
        decode_cursor(bad)

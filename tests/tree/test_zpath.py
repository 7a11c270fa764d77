"""zpath parsing and formatting (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mongozarr import ZPathError
from mongozarr.zpath import (
    ZPath,
    format_attribute_path,
    format_node_path,
    format_zpath,
    parse_attribute_path,
    parse_node_path,
    parse_zpath,
)


@pytest.mark.parametrize(
    ("text", "node", "attribute"),
    [
        ("/foo/bar/baz@spam/eggs", "foo/bar/baz", ("spam", "eggs")),
        ("foo/bar/baz@spam/eggs", "foo/bar/baz", ("spam", "eggs")),
        ("/foo/bar", "foo/bar", None),
        ("/", "", None),
        ("", "", None),
        ("/@lab", "", ("lab",)),
        ("@lab", "", ("lab",)),
        ("/a@", "a", ("",)),
        ("/a@x//y", "a", ("x", "", "y")),
        ("/a@x/", "a", ("x", "")),
        ("/a@a.b", "a", ("a.b",)),
        ("/a@$x/%25/ü", "a", ("$x", "%25", "ü")),
        (r"/a@a\/b", "a", ("a/b",)),
        (r"/a@user\@host", "a", ("user@host",)),
        (r"/a@back\\slash", "a", ("back\\slash",)),
        (r"/we\@ird@k", "we@ird", ("k",)),
        ("/a@labels/0", "a", ("labels", "0")),
    ],
)
def test_parse(text: str, node: str, attribute: tuple[str, ...] | None) -> None:
    assert parse_zpath(text) == ZPath(node, attribute)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/a//b", "cannot be empty"),
        ("/a/", "cannot be empty"),
        ("/a/../b", "'..'"),
        ("/a/./b", "'.'"),
        ("/a@b@c", "second '@'"),
        ("/a@b\\", "backslash"),
        ("/a@b\\n", "backslash"),
        (r"/a\/b@c", "cannot contain '/'"),
    ],
)
def test_malformed(text: str, fragment: str) -> None:
    with pytest.raises(ZPathError) as info:
        parse_zpath(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_not_a_string() -> None:
    with pytest.raises(ZPathError):
        parse_zpath(3)  # type: ignore[arg-type]


def test_node_and_attribute_paths() -> None:
    assert parse_node_path("/raw/img1") == "raw/img1"
    with pytest.raises(ZPathError, match="names an attribute"):
        parse_node_path("/raw@x")
    assert parse_attribute_path("spam/eggs") == ("spam", "eggs")
    assert parse_attribute_path("@name") == ("name",)
    assert parse_attribute_path("") == ("",)
    with pytest.raises(ZPathError, match="second '@'"):
        parse_attribute_path("a@b")


def test_format() -> None:
    assert format_node_path("") == "/"
    assert format_node_path("a/b") == "/a/b"
    assert format_zpath("", ("lab",)) == "/@lab"
    assert format_zpath("a", ("x/y", "u@v", "b\\s")) == r"/a@x\/y/u\@v/b\\s"
    assert str(ZPath("a", ("k",))) == "/a@k"


_keys = st.lists(st.text(), min_size=1, max_size=4).map(tuple)
_names = st.lists(
    st.text(min_size=1).filter(lambda s: "/" not in s and s not in (".", "..")), max_size=4
).map("/".join)


@given(_names, _keys)
def test_round_trip(node: str, keys: tuple[str, ...]) -> None:
    """Whatever the keys hold, formatting then parsing gives them back."""
    assert parse_zpath(format_zpath(node, keys)) == ZPath(node, keys)
    assert parse_zpath(format_zpath(node)) == ZPath(node, None)
    assert parse_attribute_path(format_attribute_path(keys)) == keys

"""zpaths: one string naming a node of a hierarchy, or an attribute inside it.

``"/foo/bar/baz@spam/eggs"`` names the attribute ``spam`` → ``eggs`` of the
node ``/foo/bar/baz`` (the syntax proposed at the zarr community call of
2020-08-26). The grammar::

    zpath      := node [ "@" attribute ]
    node       := "/" | "" | [ "/" ] name ( "/" name )*
    attribute  := key ( "/" key )*

* The node part names a group or array; the leading ``/`` is optional and
  ``"/"`` (or ``""``) is the root.
* The attribute part is split at every unescaped ``/``; each piece, even an
  empty one, is one attribute key. ``"/a@"`` names the attribute whose key is
  the empty string, ``"/a@x//y"`` the path ``x`` → ``""`` → ``y``.
* A backslash makes the next character literal: ``\\/`` (a ``/`` inside a
  key), ``\\@`` (an ``@``), ``\\\\`` (a backslash). No other escape exists,
  so a stray backslash is an error rather than a silent surprise.
* Every other character, ``.``, ``$`` and ``%`` included, is just itself:
  MongoDB's own key escaping (``mongozarr.documents.escape_key``) happens
  below this layer and is never visible in a zpath.
* Where a key walks into a list, a decimal key is a list index, as in
  MongoDB's dotted paths (``"/a@labels/0"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mongozarr.errors import ZPathError

__all__ = [
    "ZPath",
    "format_attribute_path",
    "format_node_path",
    "format_zpath",
    "parse_attribute_path",
    "parse_node_path",
    "parse_zpath",
]

_ESCAPABLE = frozenset("/@\\")


@dataclass(frozen=True)
class ZPath:
    """A parsed zpath.

    Attributes
    ----------
    node
        The node's path inside the store: no leading ``/``, ``""`` for the root.
    attribute
        The attribute keys, outermost first, or ``None`` when the zpath names
        the node itself.
    """

    node: str
    attribute: tuple[str, ...] | None = None

    def __str__(self) -> str:
        return format_zpath(self.node, self.attribute)


def _split(text: str, what: str) -> tuple[list[str], list[str] | None]:
    """Split ``text`` at unescaped ``/`` and the first unescaped ``@``.

    Returns the node pieces and the attribute pieces (``None`` without ``@``),
    with escapes resolved.
    """
    node: list[str] = []
    attribute: list[str] | None = None
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 == len(text) or text[i + 1] not in _ESCAPABLE:
                raise ZPathError(
                    f"{what} {text!r}: a backslash at position {i} must be followed by "
                    "'/', '@' or '\\' (write '\\\\' for a literal backslash)"
                )
            current.append(text[i + 1])
            i += 2
            continue
        if char == "/":
            (node if attribute is None else attribute).append("".join(current))
            current = []
        elif char == "@":
            if attribute is not None:
                raise ZPathError(
                    f"{what} {text!r}: a second '@' at position {i}; "
                    "write '\\@' for an '@' inside an attribute key"
                )
            node.append("".join(current))
            current = []
            attribute = []
        else:
            current.append(char)
        i += 1
    (node if attribute is None else attribute).append("".join(current))
    return node, attribute


def _node_path(pieces: list[str], text: str, what: str) -> str:
    if pieces and pieces[0] == "":
        pieces = pieces[1:]  # the optional leading "/"
    if pieces == [""]:
        pieces = []  # "/" alone: the root
    for name in pieces:
        if name in ("", ".", ".."):
            raise ZPathError(
                f"{what} {text!r}: node names cannot be empty, '.' or '..' "
                "(use a single '/' between names)"
            )
    return "/".join(pieces)


def parse_zpath(text: str) -> ZPath:
    """Parse a zpath such as ``"/foo/bar@spam/eggs"``.

    Raises
    ------
    ZPathError
        When ``text`` is not a valid zpath (the message says where and why).
    """
    if not isinstance(text, str):
        raise ZPathError(f"a zpath is a string, got {type(text).__name__}")
    node, attribute = _split(text, "zpath")
    if any("/" in name for name in node):
        # Only an escaped "\/" can put a slash inside a node name.
        raise ZPathError(f"zpath {text!r}: node names cannot contain '/'")
    return ZPath(_node_path(node, text, "zpath"), None if attribute is None else tuple(attribute))


def parse_node_path(text: str) -> str:
    """Parse a node path (a zpath without ``@``) into a store path."""
    parsed = parse_zpath(text)
    if parsed.attribute is not None:
        raise ZPathError(f"{text!r} names an attribute; a node path has no '@'")
    return parsed.node


def parse_attribute_path(text: str) -> tuple[str, ...]:
    """Parse the attribute part of a zpath (``"spam/eggs"``) into its keys.

    A leading ``@`` is accepted and ignored, so ``"@name"`` can say "the
    attribute ``name``" where a bare name would mean something else.
    """
    if not isinstance(text, str):
        raise ZPathError(f"an attribute path is a string, got {type(text).__name__}")
    body = text.removeprefix("@")
    node, attribute = _split("@" + body, "attribute path")
    assert node == [""] and attribute is not None
    return tuple(attribute)


def _escape(piece: str) -> str:
    return piece.replace("\\", "\\\\").replace("/", "\\/").replace("@", "\\@")


def format_attribute_path(keys: tuple[str, ...] | list[str]) -> str:
    """The text of attribute keys, escaped so :func:`parse_attribute_path` inverts it."""
    return "/".join(_escape(key) for key in keys)


def format_node_path(node: str) -> str:
    """A store path as the user sees it: with a leading ``/``."""
    return "/" + "/".join(_escape(name) for name in node.split("/")) if node else "/"


def format_zpath(node: str, attribute: tuple[str, ...] | list[str] | None = None) -> str:
    """The zpath text of a node, or of an attribute of it."""
    text = format_node_path(node)
    if attribute is None:
        return text
    return text + "@" + format_attribute_path(attribute)

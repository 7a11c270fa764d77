"""Keep secrets out of text: passwords in URIs never reach an error message, a repr or a log."""

from __future__ import annotations

import re

__all__ = ["redact", "redact_query"]

# scheme://user:password@host -> scheme://user:***@host, anywhere in a text.
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<secret>[^@/\s]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


# URI options whose values are secrets (PyMongo's names, compared case-insensitively).
_SECRET_OPTIONS = frozenset({"tlscertificatekeyfilepassword", "authmechanismproperties", "password"})


def redact_query(query: str) -> str:
    """A URI query string with the values of secret options replaced by ``***``."""
    parts = []
    for item in query.split("&"):
        key, sep, _ = item.partition("=")
        parts.append(f"{key}=***" if sep and key.lower() in _SECRET_OPTIONS else item)
    return "&".join(parts)

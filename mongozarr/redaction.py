"""Keep secrets out of text: passwords in URIs never reach an error message, a repr or a log."""

from __future__ import annotations

import re

__all__ = ["redact"]

# scheme://user:password@host -> scheme://user:***@host, anywhere in a text.
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<secret>[^@/\s]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)

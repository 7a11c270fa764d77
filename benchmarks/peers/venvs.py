"""Virtual environments for the peers, built by the benchmark and kept in a cache.

Each peer (zarr 2.18 for its ``MongoDBStore``, Icechunk) gets its own venv so
that neither enters mongozarr's dependencies: zarr 2 and zarr 3 cannot share
one environment. The interpreter is picked automatically: this one first, then
every ``python3.X`` on ``PATH``, newest first; the first on which ``pip`` can
install the requirements wins. A peer nobody can install is reported with the
reason, never measured.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CACHE", "PEER_REQUIREMENTS", "PeerUnavailable", "candidate_interpreters", "ensure_venv"]

#: Default cache: beside the benchmarks, ignored by git (it writes its own ``.gitignore``).
CACHE = Path(__file__).resolve().parents[1] / ".peers-venv"

PEER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "zarr2": ("zarr>=2.18,<2.19", "pymongo>=4", "numcodecs", "numpy"),
    "icechunk": ("icechunk", "zarr>=3", "numpy"),
}
_MARKER = "mongozarr-peer-requirements.txt"


class PeerUnavailable(RuntimeError):
    """A peer's venv could not be built; the message is the reason, for the table."""


@dataclass(frozen=True)
class Interpreter:
    command: str
    version: str


def candidate_interpreters() -> list[Interpreter]:
    """Interpreters to try: this one, then ``python3.X`` on PATH, newest first (duplicates removed)."""
    names = [sys.executable] + [f"python3.{minor}" for minor in range(20, 8, -1)] + ["python3"]
    found: list[Interpreter] = []
    seen: set[str] = set()
    for name in names:
        command = name if Path(name).is_absolute() else shutil.which(name)
        if command is None:
            continue
        try:
            # A pyenv shim exists for every version but fails for one not selected: ask it.
            probe = subprocess.run(
                [command, "-c", "import sys, venv; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = probe.stdout.strip()
        if probe.returncode != 0 or not version or version in seen:
            continue
        seen.add(version)
        found.append(Interpreter(command, version))
    return found


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _last_lines(text: str, count: int = 2) -> str:
    lines = [
        line
        for line in text.strip().splitlines()
        if line.strip() and not line.startswith("WARNING: Location")
    ]
    return " ".join(lines[-count:])[-300:]


def ensure_venv(peer: str, cache: Path = CACHE, log: object = None) -> Path:
    """The Python of ``peer``'s venv, built (``pip install``) unless the cache has it.

    Raises
    ------
    PeerUnavailable
        No interpreter could install the requirements; the message says why.
    """
    requirements = PEER_REQUIREMENTS[peer]
    wanted = "\n".join(requirements) + "\n"
    venv = cache / peer
    python = _python(venv)
    marker = venv / _MARKER
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".gitignore").write_text("*\n")
    reasons = []
    for interpreter in candidate_interpreters():
        shutil.rmtree(venv, ignore_errors=True)
        made = subprocess.run(
            [interpreter.command, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            reasons.append(
                f"Python {interpreter.version}: venv failed ({_last_lines(made.stderr)})"
            )
            continue
        if callable(log):
            log(
                f"building the {peer} venv with Python {interpreter.version}: pip install {' '.join(requirements)}"
            )
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode == 0:
            marker.write_text(wanted)
            return python
        reasons.append(f"Python {interpreter.version}: {_last_lines(installed.stderr)}")
    shutil.rmtree(venv, ignore_errors=True)
    raise PeerUnavailable("; ".join(reasons) or "no Python interpreter found")

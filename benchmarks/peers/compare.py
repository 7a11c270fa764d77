"""Run mongozarr and its real peers through the same operations, and tabulate.

Each store runs :mod:`benchmarks.peers.driver` in a child process of its own
interpreter: mongozarr in this one, zarr 2.18's ``MongoDBStore`` and Icechunk in
venvs built by :mod:`benchmarks.peers.venvs`. The two MongoDB stores reach the
same server through the same latency proxies; Icechunk writes a local
directory (no network, so one measurement serves every latency row).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from benchmarks.peers.venvs import PeerUnavailable, ensure_venv

__all__ = ["PEERS", "PeerRun", "PeerSettings", "peers_table", "run_driver", "run_peers"]

DRIVER = Path(__file__).resolve().parent / "driver.py"
ROOT = Path(__file__).resolve().parents[2]

#: (key, column label, talks to MongoDB)
PEERS: tuple[tuple[str, str, bool], ...] = (
    ("mongozarr", "mongozarr", True),
    ("zarr2", "zarr 2.18 MongoDBStore", True),
    ("icechunk", "Icechunk (local dir)", False),
)


@dataclass(frozen=True)
class PeerSettings:
    """How big each operation is (the issue's figures by default)."""

    chunks: int = 100
    nodes: int = 200
    concurrency: int = 10
    writers: int = 8
    keys: int = 5
    delays_ms: tuple[float, ...] = (0, 1)
    subject: str = "mouse-3"

    def spec(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "nodes": self.nodes,
            "concurrency": self.concurrency,
            "writers": self.writers,
            "keys": self.keys,
            "subject": self.subject,
            "seed": 0,
        }


@dataclass
class PeerRun:
    """One store's measurements by latency (``None`` for a store with no network), or why there are none."""

    key: str
    label: str
    by_delay: dict[float | None, dict[str, dict[str, Any]]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None

    def at(self, delay: float) -> dict[str, dict[str, Any]] | None:
        return self.by_delay.get(delay, self.by_delay.get(None))


class DriverFailed(RuntimeError):
    """The driver child exited with an error; the message is its last lines."""


def run_driver(
    python: str | Path, spec: dict[str, Any], pythonpath: str | None = None
) -> dict[str, Any]:
    """Run the driver in ``python`` on ``spec`` and return its JSON report."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [str(python), str(DRIVER), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise DriverFailed(" ".join(lines[-2:])[-300:] or f"exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_peers(
    uri_for: Callable[[float], str],
    settings: PeerSettings,
    run_id: str,
    scratch: Path,
    log: Callable[[str], None] = lambda message: None,
    cache: Path | None = None,
) -> list[PeerRun]:
    """Measure every peer; ``uri_for(delay)`` is the server's URI through the proxy adding ``delay`` ms."""
    runs = []
    for key, label, networked in PEERS:
        run = PeerRun(key, label)
        runs.append(run)
        try:
            python = (
                sys.executable
                if key == "mongozarr"
                else ensure_venv(key, **({"cache": cache} if cache else {}), log=log)
            )
        except PeerUnavailable as why:
            run.unavailable = f"not installable: {why}"
            continue
        pythonpath = str(ROOT) if key == "mongozarr" else None
        for delay in settings.delays_ms if networked else (None,):
            spec = {**settings.spec(), "store": key}
            if networked:
                spec |= {
                    "uri": uri_for(delay or 0),
                    "database": f"{run_id}_{key}_{int((delay or 0) * 1000)}us",
                }
            else:
                spec["directory"] = str(scratch / key)
            log(f"{label}, {f'+{delay:g} ms' if delay is not None else 'local'} ...")
            try:
                report = run_driver(python, spec, pythonpath)
            except DriverFailed as why:
                run.unavailable = f"failed: {why}"
                break
            run.by_delay[delay] = report["results"]
            run.versions = report["versions"]
    return runs


def _seconds(entry: dict[str, Any]) -> str:
    return f"{entry['seconds']:.2f} s"


def _operations(settings: PeerSettings) -> list[tuple[str, str]]:
    return [
        ("write", f"create + write {settings.chunks} × 64 KiB chunks"),
        (
            "read",
            f"open + read them (zarr 3: concurrency {settings.concurrency}; zarr 2: one at a time)",
        ),
        ("create", f"create {settings.nodes} nodes with attributes (zarr API)"),
        ("hierarchy", "   … the same nodes in one zarr.create_hierarchy (zarr 3)"),
        ("walk", f"open + walk {settings.nodes} nodes, not consolidated"),
        ("search", "search arrays by an attribute (mongozarr: Tree.find; others: walk + filter)"),
        ("writers", f"{settings.writers} processes × {settings.keys} attribute keys on one group"),
        ("outcome", "   … keys kept / silently lost / commit conflicts raised"),
    ]


def peers_table(runs: list[PeerRun], settings: PeerSettings) -> Table:
    """Wall time and round trips per operation, store by store, at each latency."""
    table = Table(
        title="4. Real peers, same run: wall time and round trips (PyMongo command monitoring in each child process)",
        title_justify="left",
        caption="Icechunk writes a local directory: no network, no round trips, one measurement shown at every latency. "
        "Writers: each process re-opens the group and sets a key of its own, concurrently (Icechunk: one commit each; "
        "a commit conflict is raised, not retried). Time for the writers: first start to last finish.",
        caption_justify="left",
    )
    table.add_column("operation")
    table.add_column("latency")
    for run in runs:
        table.add_column(f"{run.label}\ntime", justify="right")
        table.add_column("round\ntrips", justify="right")
    for index, delay in enumerate(settings.delays_ms):
        operations = _operations(settings)
        for row, (key, label) in enumerate(operations):
            cells = [label, f"+{delay:g} ms"]
            for run in runs:
                results = run.at(delay)
                if results is None:
                    cells += [
                        run.unavailable if index == 0 and row == 0 and run.unavailable else "n/a",
                        "",
                    ]
                    continue
                if key not in results and key != "outcome":
                    cells += ["n/a", ""]  # an operation this peer's zarr does not have
                    continue
                entry = results["writers"] if key == "outcome" else results[key]
                if key == "outcome":
                    cells += [
                        f"{entry['kept']} / {entry['lost']} / {entry['conflicts']}",
                        f"of {entry['attempted']}",
                    ]
                    continue
                cells += [
                    _seconds(entry),
                    str(entry["round_trips"]) if "round_trips" in entry else "—",
                ]
            table.add_row(*cells, end_section=row == len(operations) - 1)
    return table


def versions_line(runs: list[PeerRun]) -> str:
    """One line naming what each peer ran on."""
    parts = []
    for run in runs:
        if run.unavailable and not run.versions:
            parts.append(f"{run.label}: {run.unavailable}")
        else:
            parts.append(f"{run.label}: " + ", ".join(f"{k} {v}" for k, v in run.versions.items()))
    return "; ".join(parts)

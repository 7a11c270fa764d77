"""Real peers in the same run: zarr 2.18's MongoDBStore and Icechunk beside mongozarr.

``python benchmarks/run.py --peers`` builds a venv per peer (cached under
``benchmarks/.peers-venv/``), runs :mod:`benchmarks.peers.driver` in each, against
the same wire server and latency proxies as mongozarr, and prints one table.
"""

from benchmarks.peers.compare import (
    PEERS,
    PeerRun,
    PeerSettings,
    peers_table,
    run_driver,
    run_peers,
    versions_line,
)
from benchmarks.peers.venvs import PeerUnavailable, ensure_venv

__all__ = [
    "PEERS",
    "PeerRun",
    "PeerSettings",
    "PeerUnavailable",
    "ensure_venv",
    "peers_table",
    "run_driver",
    "run_peers",
    "versions_line",
]

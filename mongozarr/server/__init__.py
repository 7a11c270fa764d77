"""The local server: a MongoDB-compatible server on a directory (``mongozarr serve``).

mongoeco's wire server on its SQLite engine, with replies corrected for strict
drivers (:mod:`mongozarr.server.replies`), so mongosh, Compass-era tools and the
Node.js driver work as well as PyMongo. Needs the ``server`` extra
(``pip install 'mongozarr[server]'``, Python >= 3.13).
"""

from mongozarr.server.run import server_support_missing
from mongozarr.server.serve import DEFAULT_PORT, serve, status, stop
from mongozarr.server.state import ServerInfo

__all__ = ["DEFAULT_PORT", "ServerInfo", "serve", "server_support_missing", "status", "stop"]

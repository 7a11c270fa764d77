"""Test helpers: the mongoeco wire server and the async facade over mongomock."""

from mongozarr.testing.wire import ChildServer, WireServer, wire_server_available

__all__ = ["ChildServer", "WireServer", "wire_server_available"]

"""The metadata as a database: zpaths, queries and the Tree over a store."""

from mongozarr.tree.tree import Tree, open_tree

__all__ = ["Tree", "open_tree"]

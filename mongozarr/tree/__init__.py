"""The metadata as a database: zpaths, queries and the Tree over a store.

:class:`AsyncTree` is the core (every operation a coroutine); :class:`Tree`
is its sync form with ``tree[zpath]`` item access.
"""

from mongozarr.tree.async_tree import AsyncTree, open_tree_async
from mongozarr.tree.tree import Tree, open_tree

__all__ = ["AsyncTree", "Tree", "open_tree", "open_tree_async"]

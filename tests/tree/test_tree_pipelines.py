"""The Tree's doors to the many-writer features: append, lock, links, watch."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mongozarr import LeaseTimeout, open_tree


def test_tree_append_lock_link_watch(mock_uri: str) -> None:
    tree = open_tree(mock_uri)
    root = zarr.open_group(store=tree.store, mode="w")
    root.create_array("img", shape=(0, 3), chunks=(2, 3), dtype="i4")
    root.create_array("labels", shape=(0, 3), chunks=(2, 3), dtype="i4")
    events = tree.watch(under="/", mode="poll", poll_interval=0.01)

    region = tree.append("/img", np.ones((3, 3), dtype="i4"))
    assert (region.start, region.stop) == (0, 3)
    assert tree.append("/img", np.full((2, 3), 2, dtype="i4")).start == 3
    np.testing.assert_array_equal(tree["/img"][:, 0], [1, 1, 1, 2, 2])
    assert tree.incomplete_appends("/img") == []

    with tree.lease("/img", ttl=5) as held, pytest.raises(LeaseTimeout), tree.lease("/img", wait=0):
        pass
    assert held.fence >= 1

    assert tree.link("/img", "/labels") is True
    assert tree.link("/img", "/labels") is False  # already there: $addToSet
    assert [link.source for link in tree.backlinks("/labels")] == ["img"]

    tree["/img@reviewed"] = True
    changed = {event.path: event for event in events.poll()}
    assert changed["img"].kind == "changed" and "reviewed" in changed["img"].attributes

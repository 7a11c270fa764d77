"""One malformed node document (a hand edit from the Mongo shell) does not break whole-tree answers."""

from __future__ import annotations

import warnings

import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import MalformedNodeWarning, MongoStore, QueryError, open_tree
from mongozarr.cli import app
from mongozarr.errors import InvalidMetadataError
from tests import raw

BAD = [
    {"_id": "attrs5", "parent": "", "name": "attrs5", "depth": 1, "node_type": "group",
     "zarr_format": 3, "attributes": 5},
    {"_id": "nodtype", "parent": "", "name": "nodtype", "depth": 1, "node_type": "array",
     "zarr_format": 3, "attributes": {}, "metadata": {"shape": [3], "chunk_grid": {}}},
]


def _tree_with_bad_nodes(uri: str) -> None:
    root = zarr.open_group(store=MongoStore(uri), mode="w", attributes={"lab": "x"})
    root.create_array("good", shape=(3,), dtype="i4")
    raw.database(uri)["zarr.nodes"].insert_many([dict(d) for d in BAD])


def test_find_and_walk_skip_a_malformed_node_and_name_it(store_uri: str) -> None:
    _tree_with_bad_nodes(store_uri)
    tree = open_tree(store_uri)
    with pytest.warns(MalformedNodeWarning) as caught:
        found = [node.path for node in tree.find({})]
    assert found == ["", "good"]
    skipped = {w.message.path: str(w.message) for w in caught if w.category is MalformedNodeWarning}
    assert sorted(skipped) == ["attrs5", "nodtype"]
    assert "attributes is int" in skipped["attrs5"] and "data_type" in skipped["nodtype"]
    with pytest.warns(MalformedNodeWarning):
        assert [n.path for n in tree.walk("/")] == ["", "good"]


def test_reading_the_malformed_node_itself_says_what_is_wrong(store_uri: str) -> None:
    _tree_with_bad_nodes(store_uri)
    with pytest.raises(InvalidMetadataError, match="attributes is int"):
        open_tree(store_uri)["/attrs5"]


def test_the_cli_tree_lists_the_good_nodes_and_warns_in_one_line(mock_uri: str) -> None:
    _tree_with_bad_nodes(mock_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        result = CliRunner().invoke(app, ["tree", "/", "--uri", mock_uri], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "good" in result.stdout and "Traceback" not in result.output
    assert "warning: skipped node '/attrs5': attributes is int, not an object\n" in result.stderr


@pytest.mark.parametrize("query", [{"name": {"$regex": "("}}, {"name": {"$type": "nosuchtype"}},
                                   {"name": {"$mod": [0, 1]}}])
def test_a_query_the_server_refuses_is_a_query_error(server_uri: str, query: dict) -> None:
    _tree_with_bad_nodes(server_uri)
    with pytest.raises(QueryError):
        open_tree(server_uri).find(query)

"""xarray and dask on MongoStore, including stores pickled to dask worker processes."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

from mongozarr import AmbiguousWriteWarning, MongoStore


def _dataset() -> xr.Dataset:
    data = da.from_array(np.arange(120, dtype="f4").reshape(10, 12), chunks=(5, 6))
    return xr.Dataset(
        {"signal": (("time", "x"), data, {"units": "mV"})},
        coords={"time": np.arange(10), "x": np.linspace(0, 1, 12)},
        attrs={"subject": "mouse-7"},
    )


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_to_zarr_open_zarr_with_dask(store_uri: str, zarr_format: int) -> None:
    ds = _dataset()
    # One writer: nothing it writes can be ambiguous (v2 nodes are written as two keys at once).
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousWriteWarning)
        ds.to_zarr(MongoStore(store_uri), mode="w", zarr_format=zarr_format)
    back = xr.open_zarr(MongoStore(store_uri))
    assert back.attrs == {"subject": "mouse-7"}
    assert back["signal"].attrs["units"] == "mV"
    xr.testing.assert_identical(back.compute(), ds.compute())


def test_consolidated_metadata_is_live(store_uri: str) -> None:
    """xarray consolidates; a variable added later is still seen (no stale copy)."""
    store = MongoStore(store_uri)
    _dataset().to_zarr(store, mode="w", consolidated=True)
    # Added with plain zarr and not re-consolidated: a stored consolidated copy would now be stale.
    late = zarr.open_group(store=MongoStore(store_uri), mode="a", use_consolidated=False).create_array(
        "late", shape=(10,), dtype="i2", dimension_names=["time"])
    late[:] = 1
    back = xr.open_zarr(MongoStore(store_uri), consolidated=True)
    assert set(back.data_vars) == {"signal", "late"}
    group = zarr.open_group(store=MongoStore(store_uri), mode="r", use_consolidated=True)
    assert "late" in group.metadata.consolidated_metadata.metadata


def test_dask_process_workers_receive_a_pickled_store(server_uri: str) -> None:
    """The store travels to worker processes by pickle and reconnects there."""
    ds = _dataset()
    with dask.config.set(scheduler="processes", num_workers=2):
        ds.to_zarr(MongoStore(server_uri), mode="w")
        back = xr.open_zarr(MongoStore(server_uri))
        total = float(back["signal"].sum().compute())
    assert total == float(np.arange(120).sum())

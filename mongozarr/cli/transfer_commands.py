"""The transfer commands: ``copy``, ``export``, ``import``."""

from __future__ import annotations

from typing import Annotated

import typer

from mongozarr.cli.options import (
    AllowEmptyOption,
    ConcurrencyOption,
    PrefixOption,
    ProgressOption,
    StoreArgument,
    UriOption,
    VerifyOption,
)
from mongozarr.cli.rendering import cli_errors, copy_progress, print_report
from mongozarr.cli.target import open_store
from mongozarr.transfer import DEFAULT_CONCURRENCY, copy, export_archive, import_archive

__all__ = ["copy_command", "export_command", "import_command"]


def copy_command(
    src: StoreArgument,
    dst: StoreArgument,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
    allow_empty: AllowEmptyOption = False,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Skip keys already copied.")
    ] = True,
) -> None:
    """Copy a zarr hierarchy between stores, resuming an interrupted copy."""
    with cli_errors(), copy_progress(progress) as show:
        report = copy(
            src, dst, concurrency=concurrency, progress=show, verify=verify, resume=resume,
            allow_empty=allow_empty,
        )
    print_report(report)


def export_command(
    src: StoreArgument,
    archive: Annotated[
        str, typer.Option("--archive", help="The .zip archive (or directory) to write afresh.")
    ],
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Write a static archive with consolidated metadata (zarr at rest)."""
    with cli_errors(), copy_progress(progress) as show:
        report = export_archive(
            src, archive, concurrency=concurrency, progress=show, verify=verify, allow_empty=allow_empty
        )
    print_report(report)


def import_command(
    src: StoreArgument,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Bring a hierarchy into MongoDB, where its metadata becomes queryable."""
    with cli_errors():
        store = open_store(uri, prefix)
    with cli_errors(), copy_progress(progress) as show:
        report = import_archive(
            src, store, concurrency=concurrency, progress=show, verify=verify, allow_empty=allow_empty
        )
    print_report(report)

"""The transfer commands: ``copy``, ``export``, ``import``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from mongozarr.transfer import DEFAULT_CONCURRENCY, CopyEvent, copy, export_archive, import_archive

__all__ = ["copy_command", "export_command", "import_command"]

_RESUME = "run the same command again to resume: keys already copied are skipped"
_AFRESH = "the archive is incomplete: run the same command again to write it afresh"


class _Interrupt:
    """Remembers how far a copy got, to say so in one line on Ctrl-C."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None

    def watch(self, show: Callable[[CopyEvent], None] | None) -> Callable[[CopyEvent], None]:
        def record(event: CopyEvent) -> None:
            self.done, self.total = event.done, event.total
            if show is not None:
                show(event)

        return record

    @contextmanager
    def reported(self, hint: str) -> Iterator[None]:
        # The library has cancelled the copy and waited for it to unwind: one line, exit 130.
        try:
            yield
        except KeyboardInterrupt:
            total = "?" if self.total is None else self.total
            typer.echo(f"interrupted after {self.done} of {total} keys; {hint}", err=True)
            raise typer.Exit(130) from None


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
    interrupt = _Interrupt()
    with interrupt.reported(_RESUME if resume else "run the same command again"), cli_errors(), \
            copy_progress(progress) as show:
        report = copy(
            src, dst, concurrency=concurrency, progress=interrupt.watch(show), verify=verify, resume=resume,
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
    interrupt = _Interrupt()
    with interrupt.reported(_AFRESH), cli_errors(), copy_progress(progress) as show:
        report = export_archive(
            src, archive, concurrency=concurrency, progress=interrupt.watch(show), verify=verify,
            allow_empty=allow_empty,
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
    interrupt = _Interrupt()
    with interrupt.reported(_RESUME), cli_errors(), copy_progress(progress) as show:
        report = import_archive(
            src, store, concurrency=concurrency, progress=interrupt.watch(show), verify=verify,
            allow_empty=allow_empty,
        )
    print_report(report)

"""With ``-s``, print the table of fault probes tried, survived, lost, and orphans found and repaired."""

from __future__ import annotations

import pytest

from tests.faults.tally import TALLY

COLUMNS = ("tried", "survived", "lost", "orphans found", "orphans repaired")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.getoption("capture") != "no" or not TALLY:
        return
    write = terminalreporter.write_line
    write("")
    write("| probe family | " + " | ".join(COLUMNS) + " |")
    write("|---|" + "---:|" * len(COLUMNS))
    total = {column: 0 for column in COLUMNS}
    for family, row in sorted(TALLY.items()):
        write(f"| {family} | " + " | ".join(str(row[column]) for column in COLUMNS) + " |")
        for column in COLUMNS:
            total[column] += row[column]
    write("| **all** | " + " | ".join(str(total[column]) for column in COLUMNS) + " |")

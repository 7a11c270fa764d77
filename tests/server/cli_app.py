"""A stand-in ``mongozarr`` app with only ``serve`` registered: ``python -m tests.server.cli_app serve ...``.

(The real app registers the same ``serve_command``; the tests need not depend on that.)
"""

import typer

from mongozarr.cli.serve import serve_command

app = typer.Typer(pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """Keep ``serve`` a subcommand, as in the real app."""


app.command("serve")(serve_command)

if __name__ == "__main__":
    app()

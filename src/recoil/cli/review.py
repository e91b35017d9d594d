"""``recoil review``: serve the review page and JSON API of one project."""

from __future__ import annotations

from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("review")
def review_command(
    path: Path = typer.Argument(..., help="The project folder."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (others on your network reach 0.0.0.0)."
    ),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0: any free one)."),
    new_token: bool = typer.Option(False, "--new-token", help="Rotate the write token first."),
) -> None:
    """Serve the project's review page: compare takes, approve, reject, follow a run."""
    import asyncio
    import socket

    import uvicorn

    from recoil.errors import StateError
    from recoil.server.app import create_app
    from recoil.server.token import review_token

    token = review_token(path, rotate=new_token) if path.is_dir() else ""
    application = create_app(path, token=token, host=host)  # a bad folder fails here
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # With IPPROTO_TCP named, asyncio sets TCP_NODELAY on each connection: without it
    # every small response waits ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise StateError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port "
            "(0 picks a free one) or stop what uses it"
        ) from None
    listener.listen(2048)  # connections wait in the backlog from the moment the URL shows
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"review {path} at http://{shown}:{bound}/#token={token}")
    typer.echo(
        f"write token: {token} (kept in {path}/.recoil-review-token; --new-token rotates it)"
    )
    typer.echo("Ctrl-C stops the server")
    config = uvicorn.Config(application, log_level="warning", timeout_graceful_shutdown=2)
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))

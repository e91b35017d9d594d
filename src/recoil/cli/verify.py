"""``recoil verify``: hash every output file a project's receipts promise, or read one file's
Content Credentials."""

from __future__ import annotations

from pathlib import Path

import typer

from recoil.cli.app import app

UNSIGNED_EXIT = 3
"""``recoil verify FILE`` exit code for a file without Content Credentials."""


@app.command("verify")
def verify_command(
    path: Path = typer.Argument(..., help="A project folder, or one PNG or MP4 file."),
    trust: Path | None = typer.Option(
        None,
        "--trust",
        help="PEM file of the root certificates to trust (default: [signing] trust_anchors "
        "of the file's project, or RECOIL_C2PA_TRUST).",
    ),
) -> None:
    """For a folder: hash every output file the project's receipts promise; exit 1 if any
    is missing or damaged (the next `recoil run` regenerates those).

    For a file: read its Content Credentials (C2PA): whether they are valid, who signed
    them, whether the signer is trusted, and recoil's assertions. Exit 0 when valid
    (trusted or not), 1 when invalid (the file changed after signing), 3 when unsigned.
    """
    if path.is_file():
        _verify_file(path, trust)
        return
    if not path.exists():
        from recoil.errors import NotFoundError

        raise NotFoundError(
            f"{path}: no such file or folder; give a PNG or MP4 file, or a project folder"
        )
    from recoil.production.repair import verify_project

    checked = verify_project(path)
    for damage in checked.damage:
        typer.echo(f"damaged: {damage.line()}", err=True)
    if checked.damage:
        typer.echo(
            f"error: {len(checked.damage)} of {checked.files} output files are missing or "
            f"damaged; `recoil run {path}` regenerates them",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {checked.files} output files intact")


def _verify_file(path: Path, trust: Path | None) -> None:
    from recoil.media.credentials import CredentialStatus
    from recoil.production.credentials import verify_file

    found = verify_file(path, trust=trust)
    if found.status is CredentialStatus.UNSIGNED:
        typer.echo(f"{path}: no Content Credentials (unsigned)")
        raise typer.Exit(UNSIGNED_EXIT)
    verdict = "valid" if found.valid else "INVALID"
    typer.echo(f"{path}: Content Credentials {verdict}")
    if found.signer or found.organization:
        typer.echo(f"signed by: {found.signer} ({found.organization or 'no organization'})")
    typer.echo(f"trusted: {'yes' if found.trusted else 'no'}")
    if found.generator:
        typer.echo(f"generator: {found.generator}")
    if found.software_agent or found.digital_source_type:
        source = found.digital_source_type.rsplit("/", 1)[-1] or "none"
        typer.echo(f"created by: {found.software_agent or 'unnamed'} (source type {source})")
    for label, data in found.assertions.items():
        fields = ", ".join(f"{key}={value}" for key, value in data.items())
        typer.echo(f"{label}: {fields}")
    for problem in found.problems:
        typer.echo(f"problem: {problem}", err=True)
    if not found.valid:
        raise typer.Exit(1)

"""Imports every command module so each registers its commands on the app."""

from recoil.cli import (  # noqa: F401
    decisions,
    dispatch,
    eval,
    export,
    init,
    providers,
    receipts,
    review,
    run,
    score,
    shootout,
    status,
    verify,
)

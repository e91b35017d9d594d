"""Imports every command module so each registers its commands on the app."""

from recoil.cli import generate, production, providers, receipts, review  # noqa: F401

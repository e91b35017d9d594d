"""``python -m recoil``: the same as the ``recoil`` command."""

from recoil.cli.app import main

main()

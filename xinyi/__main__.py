"""``python -m xinyi``: the ``xinyi`` command."""

from xinyi.cli import main

main()

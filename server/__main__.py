"""``python -m server …`` is the same as the ``xinyi`` command (the contract names both).

The one module of the frame that imports the composition root: an entry point that nothing
imports, so it adds no arrow from the frame to the domains.
"""

from xinyi.cli import main

if __name__ == "__main__":
    main()

"""``python -m chipplan``: the same as the ``chipplan`` command."""

from chipplan.commands.entry import main

main()

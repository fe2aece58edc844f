"""``python -m supplymesh.cli`` runs the ``supplymesh`` command."""

from supplymesh.cli import main

main()

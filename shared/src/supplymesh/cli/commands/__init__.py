"""The ``supplymesh`` subcommands, one module per concern; :mod:`supplymesh.cli.app` registers them."""

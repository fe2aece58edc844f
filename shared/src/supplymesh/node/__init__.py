"""The runtime of one node: its context, keys, settings, peer client and request signatures."""

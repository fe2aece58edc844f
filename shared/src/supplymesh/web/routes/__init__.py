"""HTTP routes common to every node: ledgers, events, channels and the network replica."""

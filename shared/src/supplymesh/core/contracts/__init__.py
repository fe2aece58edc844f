"""The paper's rules as pure functions.

Algorithm 1 (DMS), 2 (channel attestations), 3 (order split) and 4 (escrow and quality).
Inputs and outputs are immutable values; decimals are exact (see
:mod:`supplymesh.core.numbers`).
"""

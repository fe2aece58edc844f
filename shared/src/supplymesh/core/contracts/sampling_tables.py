"""The ISO 2859-1 tables the sampling plans read (normal inspection): Table I and Table II-A.

Data only, transcribed row by row; :mod:`supplymesh.core.contracts.sampling` resolves
plans from them.
"""

from __future__ import annotations

from collections.abc import Mapping

# Table I: (smallest lot size of the range, code letters for S-1 … III); the range runs to
# the next row's smallest lot size − 1, the last one without bound. Lot sizes below 2 use
# the first row (a lot of one is always inspected 100 %).
TABLE_I: tuple[tuple[int, str], ...] = (
    (2, "AAAAAAB"),
    (9, "AAAAABC"),
    (16, "AABBBCD"),
    (26, "ABBCCDE"),
    (51, "BBCCCEF"),
    (91, "BBCDDFG"),
    (151, "BCDEEGH"),
    (281, "BCDEFHJ"),
    (501, "CCEFGJK"),
    (1201, "CDEGHKL"),
    (3201, "CDFGJLM"),
    (10001, "CDFHKMN"),
    (35001, "DEGJLNP"),
    (150001, "DEGJMPQ"),
    (500001, "DEHKNQR"),
)

SAMPLE_SIZES: Mapping[str, int] = {
    "A": 2,
    "B": 3,
    "C": 5,
    "D": 8,
    "E": 13,
    "F": 20,
    "G": 32,
    "H": 50,
    "J": 80,
    "K": 125,
    "L": 200,
    "M": 315,
    "N": 500,
    "P": 800,
    "Q": 1250,
    "R": 2000,
}
CODE_LETTERS: tuple[str, ...] = tuple(SAMPLE_SIZES)

AQL_COLUMNS: tuple[str, ...] = (
    "0.065",
    "0.10",
    "0.15",
    "0.25",
    "0.40",
    "0.65",
    "1.0",
    "1.5",
    "2.5",
    "4.0",
    "6.5",
)

# Table II-A, normal inspection: per code letter, one cell per AQL column — "v" (use the
# first plan below), "^" (the first plan above) or Ac (Re = Ac + 1).
DOWN, UP = "v", "^"
TABLE_II_A: Mapping[str, tuple[int | str, ...]] = {
    "A": (DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, 0),
    "B": (DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, 0, UP),
    "C": (DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, 0, UP, DOWN),
    "D": (DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, 0, UP, DOWN, 1),
    "E": (DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, 0, UP, DOWN, 1, 2),
    "F": (DOWN, DOWN, DOWN, DOWN, DOWN, 0, UP, DOWN, 1, 2, 3),
    "G": (DOWN, DOWN, DOWN, DOWN, 0, UP, DOWN, 1, 2, 3, 5),
    "H": (DOWN, DOWN, DOWN, 0, UP, DOWN, 1, 2, 3, 5, 7),
    "J": (DOWN, DOWN, 0, UP, DOWN, 1, 2, 3, 5, 7, 10),
    "K": (DOWN, 0, UP, DOWN, 1, 2, 3, 5, 7, 10, 14),
    "L": (0, UP, DOWN, 1, 2, 3, 5, 7, 10, 14, 21),
    "M": (UP, DOWN, 1, 2, 3, 5, 7, 10, 14, 21, UP),
    "N": (DOWN, 1, 2, 3, 5, 7, 10, 14, 21, UP, UP),
    "P": (1, 2, 3, 5, 7, 10, 14, 21, UP, UP, UP),
    "Q": (2, 3, 5, 7, 10, 14, 21, UP, UP, UP, UP),
    "R": (3, 5, 7, 10, 14, 21, UP, UP, UP, UP, UP),
}

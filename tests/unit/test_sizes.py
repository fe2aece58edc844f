"""The size habit, enforced: no product module over 300 lines, no function over 40.

An exception is allowed where its reason is written down: a module whose first lines
hold a ``# size: <reason>`` comment, a function whose ``def`` line or the comment lines
just above it (and its decorators) hold one. Lines count as the file has them
(docstrings included); a function's lines run from its ``def`` to its last line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "shared" / "src", ROOT / "services"]
MODULE_LINES = 300
FUNCTION_LINES = 40
MARK = "# size:"


def product_files() -> list[Path]:
    return sorted(p for base in PRODUCT for p in base.rglob("*.py") if "tests" not in p.parts)


def _reasoned_module(lines: list[str]) -> bool:
    return any(line.strip().startswith(MARK) for line in lines[:15])


def _reasoned_function(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if MARK in lines[node.lineno - 1]:
        return True
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    above = first - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        if lines[above].strip().startswith(MARK):
            return True
        above -= 1
    return False


def oversized(path: Path) -> list[str]:
    """What in ``path`` is over the limits without a written reason."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []
    name = path.relative_to(ROOT).as_posix()
    if len(lines) > MODULE_LINES and not _reasoned_module(lines):
        found.append(f"{name}: {len(lines)} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES and not _reasoned_function(lines, node):
                found.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_or_function_is_over_its_size_without_a_reason() -> None:
    found = [item for path in product_files() for item in oversized(path)]
    assert found == [], "\n".join(found)


def test_the_check_finds_an_unreasoned_long_function_and_accepts_a_reasoned_one(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(45))
    plain = tmp_path / "shared" / "src" / "long.py"
    plain.parent.mkdir(parents=True)
    plain.write_text(f"def long() -> None:\n{body}\n", encoding="utf-8")
    reasoned = tmp_path / "shared" / "src" / "reasoned.py"
    reasoned.write_text(f"# size: a table, read top to bottom\n@staticmethod\ndef long() -> None:\n{body}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
        assert oversized(plain) == ["shared/src/long.py:1 long: 46 lines"]
        assert oversized(reasoned) == []


def test_the_check_finds_an_unreasoned_long_module(tmp_path: Path) -> None:
    module = tmp_path / "big.py"
    module.write_text("\n".join(f"X{i} = {i}" for i in range(301)) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
        assert oversized(module) == ["big.py: 301 lines"]
        module.write_text("# size: generated table\n" + module.read_text(encoding="utf-8"), encoding="utf-8")
        assert oversized(module) == []

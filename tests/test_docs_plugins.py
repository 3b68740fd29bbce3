"""docs/plugins.md works as written: every code block in it is checked.

The rule, simple on purpose:

- Every fenced ``python`` block is code to run. The blocks form ONE test module, in document order
  (a later block uses what an earlier one defined, as a reader would), run by pytest under
  ``pytester`` with helixnet.testing's fixtures, exactly as a plugin author's suite runs. The
  module must import cleanly and every ``def test_`` in the blocks must pass: a block that defines
  a plugin and a test really runs that test. A Python block cannot be skipped.
- Every ``toml`` block must parse (tomllib); a ``helixnet.compute`` entry point in it must name a
  plugin class the Python blocks define (``module:Class``).
- Any other block (shell commands, a folder layout) must be marked ``<!-- doctest: skip -->`` on the
  line before it; an unmarked one fails the test, so nothing escapes the check by accident.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
SKIP = "<!-- doctest: skip -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    skipped: bool


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        found.append(Block(match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1, before == SKIP))
    return found


ALL = blocks(DOC.read_text(encoding="utf-8"))
PYTHON = [b for b in ALL if b.language == "python"]


def test_the_doc_has_code_and_is_linked_from_the_readme() -> None:
    assert len(PYTHON) >= 5
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "(docs/plugins.md)" in readme


def test_every_block_is_run_or_explicitly_skipped() -> None:
    for block in ALL:
        if block.language == "python":
            assert not block.skipped, f"docs/plugins.md:{block.line}: a python block cannot be skipped"
        elif block.language != "toml":
            assert block.skipped, f"docs/plugins.md:{block.line}: a {block.language or 'plain'} block needs {SKIP}"


def test_toml_blocks_parse_and_name_a_documented_plugin() -> None:
    defined = {m.group(1) for b in PYTHON for m in re.finditer(r"^class (\w+)\(ComputePlugin\)", b.code, re.M)}
    tomls = [b for b in ALL if b.language == "toml"]
    assert tomls
    for block in tomls:
        data = tomllib.loads(block.code)
        entries = data.get("project", {}).get("entry-points", {}).get("helixnet.compute", {})
        for name, target in entries.items():
            module, _, attr = target.partition(":")
            assert module.isidentifier() and attr in defined, f"docs/plugins.md:{block.line}: {name} = {target}"


def test_the_python_blocks_run_as_a_plugin_authors_test_module(hx: object, pytester: pytest.Pytester) -> None:
    # ``hx`` (this suite's) first: HelixNet's modules are imported before pytester snapshots sys.modules
    # (see tests/test_testing_plugin.py).
    module = "\n\n".join(f"# docs/plugins.md:{b.line}\n{b.code}" for b in PYTHON)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_plugins_md=module)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    expected = len(re.findall(r"^\s*def test_", module, re.M))
    assert expected >= 8
    result.assert_outcomes(passed=expected)

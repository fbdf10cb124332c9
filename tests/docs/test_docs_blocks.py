"""Every ```python block of README.md and docs/*.md runs (docs/writing-docs.md has the rules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .markdown_blocks import Block, MarkerError, chains, read_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [block for path in DOCS for block in read_blocks(path)]
CHAINS = chains(BLOCKS)
TIMEOUT = 180  # seconds a block may take on a loaded 2-core machine; most take 1-3 s
MAX_NOT_RUN = 6


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The sample market where the docs expect it, shortened to 10 minutes to keep this fast."""
    out = tmp_path_factory.mktemp("docs-sample") / "sample"
    subprocess.run([sys.executable, "-m", "backtrader_channels.cli", "sample", "--out", str(out),
                    "--minutes", "10"], check=True, capture_output=True, timeout=120)
    return out


SLOW_PAGES = {"sweeps.md", "recording.md"}  # Dask sweeps and live recordings, 3-10 s a block: make test-slow


@pytest.mark.parametrize("chain", [pytest.param(chain, marks=pytest.mark.slow)
                                   if chain.blocks[0].path.name in SLOW_PAGES else chain
                                   for chain in CHAINS], ids=[chain.name for chain in CHAINS])
def test_docs_block_runs(chain, sample, tmp_path):
    (tmp_path / "btchannels-output").mkdir()
    (tmp_path / "btchannels-output" / "sample").symlink_to(sample, target_is_directory=True)
    for named in chain.files:
        (tmp_path / named.file_name).write_text(named.code)
    prelude = "".join(f"__import__('runpy').run_path({named.file_name!r}, run_name='docs_prelude')\n"
                      for named in chain.files)
    script = tmp_path / "block.py"
    script.write_text(prelude + chain.code)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=TIMEOUT)
    assert completed.returncode == 0, f"{chain.name} failed:\n{completed.stderr[-3000:]}"


def test_every_python_block_is_found():
    for path in DOCS:
        fences = sum(line.rstrip() == "```python" for line in path.read_text().splitlines())
        assert len(read_blocks(path)) == fences, path


def test_blocks_not_run_are_few_and_say_why():
    not_run = [block for block in BLOCKS if block.not_run is not None]
    where = [f"{block.path.name}:{block.line} ({block.not_run})" for block in not_run]
    assert len(not_run) <= MAX_NOT_RUN and len(not_run) <= len(BLOCKS) // 4, where
    for block in not_run:
        assert len(block.not_run.split()) >= 3, f"{block.path.name}:{block.line}: say why it is not run"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_markers_apply_to_the_next_python_block(tmp_path):
    path = _write(tmp_path, "# Page\n\n```python\nx = 1\n```\n\nText.\n\n<!-- continues -->\n```python\n"
                            "print(x)\n```\n\n<!-- not-run: needs the network -->\n```python\nfetch()\n```\n"
                            "\n```sh\nbtchannels demo\n```\n")
    blocks = read_blocks(path)
    assert [(b.line, b.continues, b.not_run) for b in blocks] == [
        (3, False, None), (10, True, None), (15, False, "needs the network")]
    [chain] = chains(blocks)
    assert chain.code == "x = 1\n\nprint(x)\n"
    assert chain.name == "page.md:3+10"


@pytest.mark.parametrize("text, problem", [
    ("<!-- not run: typo -->\n```python\nx\n```\n", "malformed marker"),
    ("<!-- not-run: shell -->\n```sh\nls\n```\n", "not ```python"),
    ("<!-- continues -->\n\nSome text.\n```python\nx\n```\n", "not directly above"),
    ("```python\nx = 1\n", "never closed"),
])
def test_misplaced_or_malformed_markers_fail(tmp_path, text, problem):
    with pytest.raises(MarkerError, match=problem):
        read_blocks(_write(tmp_path, text))


def test_named_blocks_are_files_that_later_blocks_of_the_page_run_first(tmp_path):
    path = _write(tmp_path, "```python\n# make.py\nopen('d', 'w').write('1')\n```\n\n```python\n"
                            "print(open('d').read())\n```\n")
    first, second = chains(read_blocks(path))
    assert (first.files, [block.file_name for block in second.files]) == ([], ["make.py"])


def test_a_block_cannot_continue_nothing(tmp_path):
    blocks = [Block(tmp_path / "page.md", 3, "print(x)\n", continues=True)]
    with pytest.raises(MarkerError, match="no block before it runs"):
        chains(blocks)

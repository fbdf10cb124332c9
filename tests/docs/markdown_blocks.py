"""The ```python blocks of the Markdown docs, with the markers that say how to run them.

The convention (documented in docs/writing-docs.md):

- every ```python block is a script that runs on its own, in a fresh directory holding the
  sample hour under ``btchannels-output/sample/``;
- ``<!-- continues -->`` on the line before a block: the block runs after the blocks before
  it (the chain back to the last block without the marker), as one script;
- ``<!-- not-run: REASON -->`` on the line before a block: the block is not run, for the
  stated reason (it needs the network, or files only the reader has);
- a block whose first line is a comment naming a Python file (``# make_days.py``) is that
  file: later blocks of the page find it saved under that name, and run it first as a module
  (so ``if __name__ == "__main__":`` parts are not run again) to have what it makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "Chain", "MarkerError", "chains", "read_blocks"]

_FENCE = re.compile(r"^\s*(`{3,})([^`\s]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(not-run|continues)\b(.*?)-->\s*$")
_MARKER_LIKE = re.compile(r"<!--\s*(not[- ]?run|continue)", re.IGNORECASE)
_FILE_NAME = re.compile(r"^#\s*([\w.-]+\.py)\s*$")


class MarkerError(ValueError):
    """A marker that is malformed or not directly above a ```python block."""


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None = None  # the reason, for a block marked not-run
    continues: bool = False

    @property
    def file_name(self) -> str | None:
        """The file this block is, when its first line names one (``# make_days.py``)."""
        match = _FILE_NAME.match(self.code.split("\n", 1)[0])
        return match.group(1) if match else None


@dataclass
class Chain:
    """A block and the blocks that continue it: one script."""

    blocks: list[Block] = field(default_factory=list)
    files: list[Block] = field(default_factory=list)  # earlier named blocks of the page, run first

    @property
    def name(self) -> str:
        first = self.blocks[0]
        lines = "+".join(str(block.line) for block in self.blocks)
        return f"{first.path.name}:{lines}"

    @property
    def code(self) -> str:
        return "\n".join(block.code for block in self.blocks)


def _closes(line: str, ticks: str) -> bool:
    """A closing fence: only backticks, at least as many as the opening one."""
    text = line.strip()
    return len(text) >= len(ticks) and set(text) == {"`"}


def read_blocks(path: Path) -> list[Block]:
    """Every ```python block of a Markdown file, with its marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: tuple[str, str, int] | None = None  # marker kind, argument, line
    index = 0
    while index < len(lines):
        text = lines[index]
        marker = _MARKER.match(text)
        fence = _FENCE.match(text)
        if marker:
            pending = (marker.group(1), marker.group(2).strip(), index + 1)
        elif _MARKER_LIKE.search(text):
            raise MarkerError(f"{path}:{index + 1}: malformed marker {text.strip()!r}; "
                              "write <!-- not-run: REASON --> or <!-- continues -->")
        elif fence:
            ticks, language = fence.groups()
            end = next((j for j in range(index + 1, len(lines)) if _closes(lines[j], ticks)), None)
            if end is None:
                raise MarkerError(f"{path}:{index + 1}: code block never closed")
            if language == "python":
                block = Block(path, index + 1, "\n".join(lines[index + 1:end]) + "\n")
                if pending is not None:
                    kind, argument, _ = pending
                    if kind == "not-run":
                        block.not_run = argument.lstrip(":").strip()
                    else:
                        block.continues = True
                blocks.append(block)
            elif pending is not None:
                raise MarkerError(f"{path}:{pending[2]}: marker above a ```{language} block, not ```python")
            pending = None
            index = end
        elif text.strip() and pending is not None:
            raise MarkerError(f"{path}:{pending[2]}: marker not directly above a code block")
        index += 1
    if pending is not None:
        raise MarkerError(f"{path}:{pending[2]}: marker at the end of the file")
    return blocks


def chains(blocks: list[Block]) -> list[Chain]:
    """The blocks to run, grouped into scripts: each block with the blocks it continues."""
    found: list[Chain] = []
    files: list[Block] = []
    for block in blocks:
        if block.not_run is not None:
            continue
        if files and files[-1].path != block.path:
            files = []
        if block.continues:
            if not found or found[-1].blocks[0].path != block.path:
                raise MarkerError(f"{block.path}:{block.line}: <!-- continues --> but no block before it runs")
            found[-1].blocks.append(block)
        else:
            found.append(Chain([block], list(files)))
        if block.file_name:
            files.append(block)
    return found

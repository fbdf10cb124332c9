"""What a download did: DownloadReport, and the Failure of each file that could not be had."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .failures import DownloadFailed
from .layout import RemoteFile

__all__ = ["DownloadReport", "Failure"]


@dataclass(frozen=True)
class Failure:
    """A file that could not be had: ``missing`` when the site does not publish it (404)."""

    file: RemoteFile
    url: str
    reason: str
    missing: bool = False

    def __str__(self) -> str:
        return f"{self.file.name}: {self.reason} at {self.url}"


@dataclass
class DownloadReport:
    """What a download did. ``files`` are the verified zips covering the range, in time order."""

    files: list[Path] = field(default_factory=list)
    fetched: int = 0  # files downloaded by this run
    reused: int = 0  # files verified before (or found on disk and verified now): not fetched
    bytes: int = 0  # bytes of the zips fetched by this run
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)  # what failed (missing files included)
    skipped: list[Failure] = field(default_factory=list)  # missing files accepted (skip_missing)

    @property
    def planned(self) -> int:
        return len(self.files) + len(self.failures) + len(self.skipped)

    def check(self) -> DownloadReport:
        """This report, or DownloadFailed if any file failed."""
        if self.failures:
            raise DownloadFailed(self)
        return self

    def summary(self, out: Path) -> str:
        rate = self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0
        fetched = (f"{self.fetched} downloaded ({self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s, {rate:.1f} MB/s)"
                   if self.fetched else "none downloaded")
        lines = [f"{len(self.files)} of {self.planned} files verified in {out}: {fetched}, {self.reused} already there"]
        lines += [f"skipped (--skip-missing): {failure}" for failure in self.skipped]
        lines += [f"failed: {failure}" for failure in self.failures]
        if self.failures:
            lines.append("the files above are not on disk; the others are kept, and a rerun fetches only what is "
                         "missing")
        return "\n".join(lines)

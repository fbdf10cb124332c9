"""What a download reports to its user: DownloadError (one line) and DownloadFailed (files that failed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .outcome import DownloadReport

__all__ = ["DownloadError", "DownloadFailed"]


class DownloadError(Exception):
    """A download that cannot be done as asked (a bad date range, a data set the site does
    not publish for that market...); its message is one line for the user."""


class DownloadFailed(DownloadError):
    """Some files could not be had (not published, a checksum mismatch, the network); the
    others were downloaded and verified. ``report`` tells which is which."""

    def __init__(self, report: DownloadReport) -> None:
        self.report = report
        failed = report.failures
        if len(failed) == 1:
            text = str(failed[0])
        else:
            text = f"{len(failed)} of {report.planned} files failed, the first: {failed[0]}"
        super().__init__(text)

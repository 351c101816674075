"""The abstract where it lives: a paper's `.tex` file (or a `.md`/`.txt` file, whole).

`open_paper` finds the abstract (`\\begin{abstract}...\\end{abstract}`, or `\\abstract{...}` as
some journal classes write it; commented-out lines do not count) and keeps the file's text
around it; `Paper.write` puts a new abstract in its place (`arxiv_tui.atomic`: a temp file, fsync, a
rename), every other byte unchanged. The file's state when read (size, modification time, a hash) is
kept, so a change made on disk meanwhile is found before anything is written over it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from arxiv_tui import atomic
from arxiv_tui.errors import ReportedError
from arxiv_tui.latex import LatexError, find_abstract

WHOLE_FILE_SUFFIXES = (".md", ".txt")


class PaperError(ReportedError):
    """A paper file that cannot be edited: one line that says why."""


class PaperChanged(Exception):
    """The file changed on disk since it was read; `abstract` is the abstract it holds now
    (None when it has none any more)."""

    def __init__(self, abstract: str | None) -> None:
        super().__init__("changed on disk")
        self.abstract = abstract


def _stamp(data: bytes, path: Path) -> tuple[int, int, str]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Paper:
    """A file and where its abstract is in it."""

    path: Path
    before: str  # the file up to the abstract (for .md/.txt: empty)
    abstract: str  # as the file holds it, without the whitespace around it
    after: str
    stamp: tuple[int, int, str]  # (size, mtime_ns, sha256) when read or last written

    @property
    def whole(self) -> bool:
        return self.path.suffix.lower() in WHOLE_FILE_SUFFIXES

    def changed_on_disk(self) -> bool:
        try:
            data = self.path.read_bytes()
        except OSError:
            return True
        return _stamp(data, self.path) != self.stamp

    def write(self, abstract: str) -> Paper:
        """Put `abstract` in the file; returns the paper as now written. A change made on disk
        outside the abstract is kept (the abstract goes into the new version); a change to the
        abstract itself raises PaperChanged, so nobody's text is written over unseen. Raises
        PaperError when the file cannot be written."""
        paper = self
        if self.changed_on_disk():
            try:
                paper = open_paper(self.path)
            except PaperError:
                raise PaperChanged(None) from None
            if paper.abstract != self.abstract:
                raise PaperChanged(paper.abstract)
        return paper._written(self.path, abstract)

    def write_beside(self, abstract: str) -> Paper:
        """This paper as this app read it, holding `abstract`, written as a new file beside it
        (NAME.mine.tex, NAME.mine-2.tex...): 'keep both' when the file changed on disk."""
        stem, number = f"{self.path.stem}.mine", 1
        other = self.path.with_name(stem + self.path.suffix)
        while other.exists():
            number += 1
            other = self.path.with_name(f"{stem}-{number}{self.path.suffix}")
        return self._written(other, abstract)

    def _written(self, path: Path, abstract: str) -> Paper:
        """This paper with `abstract` in place of its own, written to `path`."""
        data = (self.before + abstract + self.after).encode("utf-8")
        try:
            atomic.write_bytes(path, data)
        except OSError as exc:
            raise PaperError(f"cannot write {path}: {exc.strerror or exc}") from None
        return replace(self, path=path, abstract=abstract, stamp=_stamp(data, path))


def open_paper(path: Path) -> Paper:
    """Read `path` and find its abstract (see the module docstring). Raises PaperError."""
    path = path.expanduser().absolute()
    if path.suffix.lower() not in (".tex", *WHOLE_FILE_SUFFIXES):
        raise PaperError(f"cannot open {path.name}: arxiv-tui edits .tex, .md and .txt files")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PaperError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise PaperError(f"{path} is a folder; give a .tex, .md or .txt file") from None
    except OSError as exc:
        raise PaperError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PaperError(
            f"{path.name} is not UTF-8 text (bad byte at offset {exc.start}); convert it first, "
            f"e.g. iconv -f latin1 -t utf-8"
        ) from None
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise PaperError(f"{path} cannot be written (no permission): arxiv-tui could not save the abstract back")
    if path.suffix.lower() in WHOLE_FILE_SUFFIXES:
        return Paper(path, "", text, "", _stamp(data, path))
    try:
        start, end = find_abstract(text, path.name)
    except LatexError as exc:
        raise PaperError(str(exc)) from None
    return Paper(path, text[:start], text[start:end], text[end:], _stamp(data, path))

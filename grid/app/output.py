"""One output mechanism for every command: ``--quiet`` and ``--json``, the same everywhere.

Human text goes to stdout; live progress and status lines go to stderr through rich, and only when stderr
is a terminal and neither flag is given (so pipes and CI logs stay clean). With ``--json`` the command's
result is ONE JSON document on stdout (``--json`` wins over ``--quiet``); with ``--quiet`` stdout carries
nothing. Errors stay one line on stderr with the same exit codes (grid.app.cli); with ``--json`` a
command that fails or is stopped before printing its document prints :func:`failure_document`
instead, so stdout always carries exactly one JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Output", "add_output_flags", "add_output_flags_everywhere", "failure_document", "reset_documents"]

_FLAGS = {
    "--quiet": "print nothing on stdout and show no progress (errors still go to stderr)",
    "--json": "print the result as one JSON document on stdout, no progress",
}


def add_output_flags(p: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` and ``--json`` to one command, keeping a flag it already defines (and its help)."""
    for flag, help_text in _FLAGS.items():
        if flag not in p._option_string_actions:  # argparse has no public lookup
            p.add_argument(flag, action="store_true", help=help_text)


def add_output_flags_everywhere(p: argparse.ArgumentParser) -> None:
    """Add the flags to every leaf command under ``p`` (commands with subcommands pass them down)."""
    subparsers = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        add_output_flags(p)
        return
    for action in subparsers:
        for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
            add_output_flags_everywhere(child)


@dataclass(frozen=True)
class Output:
    """What a command may print, from its ``--quiet`` / ``--json`` flags."""

    quiet: bool = False
    json: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Output:
        return cls(quiet=bool(getattr(args, "quiet", False)), json=bool(getattr(args, "json", False)))

    @property
    def human(self) -> bool:
        """Human text on stdout is wanted."""
        return not (self.quiet or self.json)

    @property
    def live(self) -> bool:
        """Live progress is wanted: human mode and a terminal on stderr."""
        return self.human and sys.stderr.isatty()

    def say(self, text: str) -> None:
        """One line of human text (rich markup) on stdout, unless quiet or JSON."""
        if self.human:
            from rich.console import Console

            Console(soft_wrap=True).print(text)

    def result(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """The command's result: ONE JSON document with ``--json``, else ``text`` unless quiet."""
        if self.json:
            _emit(data, indent=2)
        elif text is not None:
            self.say(text)

    @contextlib.contextmanager
    def final_counts(self, counts: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A service's counts (filled in by the block) as one JSON line on stdout with ``--json`` when it
        stops: by returning, by a stop signal or Ctrl-C (not by an error, which stays one stderr line)."""
        from grid.app.signals import Stopped

        try:
            yield counts
        except (Stopped, KeyboardInterrupt):
            counts["stopped"] = True
            self._counts(counts)
            raise
        except BaseException:
            _documents.counts = counts  # the failure document carries them
            raise
        self._counts(counts)

    def _counts(self, counts: dict[str, Any]) -> None:
        if self.json:
            _emit(counts, indent=None)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A rich spinner with ``text`` on stderr while the block runs, only when live."""
        if not self.live:
            yield
            return
        from rich.console import Console

        with Console(stderr=True).status(text):
            yield


@dataclass
class _Documents:
    """What this process has printed with ``--json``: one document is the contract."""

    printed: int = 0
    counts: dict[str, Any] | None = None  # a service's counts when an error stopped it


_documents = _Documents()


def _emit(data: Mapping[str, Any], *, indent: int | None) -> None:
    print(json.dumps(data, indent=indent, default=str), flush=True)
    _documents.printed += 1


def reset_documents() -> None:
    """Forget the documents printed so far (a new command starts in this process)."""
    _documents.printed, _documents.counts = 0, None


def failure_document(kind: str, details: Mapping[str, Any]) -> None:
    """With ``--json``, a command's one document when it failed (``kind`` ``error``) or was stopped
    (``stopped``) before printing its own; nothing if it did print one. A service's counts, if an
    error ended it, come along under ``counts``."""
    if _documents.printed:
        return
    data: dict[str, Any] = {kind: dict(details)}
    if _documents.counts is not None:
        data["counts"] = _documents.counts
    _emit(data, indent=2)

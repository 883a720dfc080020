"""Stopping on SIGINT and SIGTERM like a service: the first signal stops the command in order, a
second one exits at once.

The handlers are installed explicitly, whatever the process inherited: a job started with ``&``
from a script (or by ``nohup`` or some init systems) inherits SIGINT *ignored*, and a process
that is PID 1 in a container never gets the default action of SIGTERM (the kernel drops it), so
neither would stop otherwise.

While :func:`run_async` runs a coroutine, the first signal cancels it (the services say offline,
brokers and children are stopped and reaped) and :class:`Stopped` is raised once it has unwound;
outside the event loop (imports, printing) the handler raises :class:`Stopped` where the process
is, as Python does with KeyboardInterrupt. The first signal is announced on stderr at once, in
one line (``terminated: SIGTERM received, stopping ...``). A second signal while shutting down writes one line
and ends the process with ``os._exit``: children started by gridsim get SIGTERM from the kernel
(PDEATHSIG, :func:`grid.mqtt.process.die_with_parent_hook`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["STOP_SIGNALS", "Stopped", "exit_code", "received", "run_async", "stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_T = TypeVar("_T")
_WORDS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


class Stopped(BaseException):
    """A stop signal arrived and the command has shut down in order.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.

    Attributes:
        signum: the signal, SIGINT or SIGTERM.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """130 or 143."""
        return exit_code(self.signum)


def _write_line(line: str) -> None:
    os.write(2, f"{line}\n".encode())


@dataclass
class _State:
    announce: Callable[[str], None] = _write_line  # says the first signal's line on stderr
    received: int | None = None  # the first stop signal, once it arrived
    loop: asyncio.AbstractEventLoop | None = None  # while run_async runs: its loop and main task
    task: asyncio.Task[Any] | None = None


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    del frame
    if _state.received is not None:
        # Already shutting down: the user insists. One line, then out, with no further cleanup.
        name = signal.Signals(signum).name
        os.write(2, f"second {name} while stopping: exiting at once\n".encode())
        os._exit(exit_code(signum))
    _state.received = signum
    # Said at once, since the stop may take a moment.
    line = f"{_WORDS[signum]}: {signal.Signals(signum).name} received, stopping (again: exit at once)"
    if _state.loop is not None and _state.task is not None:
        # Runs in the main thread between two bytecodes, maybe inside the loop's or rich's own
        # code: hand the line and the cancellation to the loop (which also wakes it from select).
        _state.loop.call_soon_threadsafe(_state.announce, line)
        _state.loop.call_soon_threadsafe(_state.task.cancel)
        return
    _write_line(line)  # raw: rich may be half-way through printing, or not even imported yet
    raise Stopped(signum)


def received() -> int | None:
    """The stop signal received so far, if any."""
    return _state.received


@contextlib.contextmanager
def stop_signals(announce: Callable[[str], None] = _write_line) -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above for the block; the previous handlers after it.

    Only in the main thread (Python delivers signals there; elsewhere this does nothing).

    Args:
        announce: says the first signal's line on stderr (by default a raw write; the CLI passes
            its rich console, which keeps a live progress display intact). Called from the event
            loop while one runs; outside it the handler writes the line itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _state.received, _state.announce = None, announce
    for signum in STOP_SIGNALS:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state.received, _state.announce = None, _write_line


def run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)``; a stop signal cancels ``coro``, then raises :class:`Stopped`.

    Raises:
        Stopped: a stop signal arrived (also one that arrived after ``coro`` returned).
    """
    import asyncio  # here: the commands that run nothing (help, scenario validate) start without it

    async def cancelled_by_signal() -> _T:
        _state.loop, _state.task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            if _state.received is not None:  # arrived while the loop was being set up
                coro.close()
                raise Stopped(_state.received)
            return await coro
        except asyncio.CancelledError:
            if _state.received is not None:
                raise Stopped(_state.received) from None
            raise
        finally:
            _state.loop = _state.task = None

    result = asyncio.run(cancelled_by_signal())
    if _state.received is not None:
        raise Stopped(_state.received)
    return result

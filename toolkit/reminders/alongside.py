"""Rendering a run's reminders on two cores: every other one in a process forked for the purpose.

Rendering is Python from end to end (Jinja, Babel's number formats), so a thread would
wait for this one; and at the point the reminders are rendered the second core is idle
(the sheet has been read, and it is written only afterwards). A process forked then
already has everything a message needs: the analysis, the compiled templates, the
manual. It renders its share and sends back plain text (``Rendered``); this process
renders the other share meanwhile and puts every email together, in order, itself.
So the messages, their numbers and their files are what one process would make.

The forked process shares this one's pages until either writes to them; it ends before
the sheet is written, which is when this process is at its largest. Where it cannot
start, fails, or stops, this process renders its share too: a template mistake is then
reported here, with its file and line, as it would be without the second process.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from toolkit.batch.workers import default_jobs
from toolkit.reminders.compose import MessageBuilder, PreparedMessage, Reminder, Rendered

# Fewer messages than this to share out: one process. Forking and sending the text back cost
# a few hundredths of a second; a message takes about a quarter of a millisecond.
SPLIT_AT = 200
# How long to wait for the other process beyond the time this one took for its own share.
_GRACE_SECONDS = 60.0


def build_messages(builder: MessageBuilder, reminders: Sequence[Reminder]) -> list[PreparedMessage]:
    """``builder.build`` for every reminder, numbered from 1: on two cores where there are two and enough messages."""
    rendered: list[Rendered | None] = [None] * len(reminders)
    # The first message of each template here, before forking: the other process inherits them compiled.
    firsts: dict[str, int] = {}
    for index, reminder in enumerate(reminders):
        firsts.setdefault(reminder.stage.template, index)
    first = set(firsts.values())
    rest = [i for i in range(len(reminders)) if i not in first]
    ours, theirs = rest[0::2], rest[1::2]
    helper = None
    if len(rest) >= SPLIT_AT and _second_core():
        for index in first:
            rendered[index] = builder.render(reminders[index])
        helper = _Helper.start(builder, reminders, theirs)
    if helper is not None:
        started = time.monotonic()
        try:
            for index in ours:
                rendered[index] = builder.render(reminders[index])
        except BaseException:
            # A mistake in a template, reported from here: the other process's work is not wanted.
            helper.stop(at_once=True)
            raise
        answer = helper.result(timeout=_GRACE_SECONDS + 10 * (time.monotonic() - started))
        if answer is not None:
            for index, one in zip(theirs, answer, strict=True):
                rendered[index] = one
    messages = []
    for number, (reminder, done) in enumerate(zip(reminders, rendered, strict=True), start=1):
        # Not rendered yet: no second process, or it did not answer; rendered here, mistakes reported here.
        messages.append(builder.assemble(reminder, number, done if done is not None else builder.render(reminder)))
    return messages


def _second_core() -> bool:
    """A second core to render on, and a way to fork (not on Windows; not on macOS, where forking is unsafe)."""
    if sys.platform == "darwin" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return default_jobs() >= 2


class _Helper:
    """The forked process rendering the reminders at ``indices``; ``result()`` is their ``Rendered``, or None."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self._process, self._conn = process, conn

    @classmethod
    def start(cls, builder: MessageBuilder, reminders: Sequence[Reminder], indices: list[int]) -> _Helper | None:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(
            target=_render_in_process, args=(theirs, ours, builder, reminders, indices), name="render", daemon=True
        )
        try:
            process.start()
        except (OSError, AssertionError):  # no process allowed here (limits, or a daemonic parent): render here
            ours.close()
            theirs.close()
            return None
        theirs.close()
        return cls(process, ours)

    def result(self, timeout: float) -> list[Rendered] | None:
        answer = None
        try:
            if self._conn.poll(timeout):
                answer = self._conn.recv()
        except (OSError, EOFError):
            pass  # the process ended without answering (killed, out of memory)
        finally:
            self.stop(at_once=answer is None)  # no answer in time: it is not waited for again
        return answer if isinstance(answer, list) else None

    def stop(self, at_once: bool = False) -> None:
        """Close the pipe and end the process: ``at_once``, or if it has not ended by itself within a second."""
        self._conn.close()
        if at_once:
            self._process.kill()
        self._process.join(timeout=1)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _render_in_process(
    conn: Connection, other_end: Connection, builder: MessageBuilder, reminders: Sequence[Reminder], indices: list[int]
) -> None:
    """In the forked process: render the reminders at ``indices``, send the list back (None on any failure)."""
    other_end.close()
    try:
        answer: list[Rendered] | None = [builder.render(reminders[i]) for i in indices]
    except BaseException:  # rendered again by the parent, which reports the mistake
        answer = None
    try:
        conn.send(answer)
    except OSError:
        pass  # the parent stopped waiting: it renders these itself
    finally:
        conn.close()

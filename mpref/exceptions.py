"""The exceptions of mpref, all in one place (spec 16.6.2.1, 16.6.2.9, 16.6.2.10).

Chapters: ``notebooks/01_process.ipynb`` introduces them; each is met again in
the chapter of the module that raises it.

Every error that mpref invents derives from :class:`ProcessError`, so a caller
can catch "anything multiprocessing-specific" with one ``except`` clause.  The
spec puts ``BufferTooShort`` and ``TimeoutError`` in the top-level namespace
and ``AuthenticationError`` in ``multiprocessing.connection``; mpref re-exports
them from both places.

Note: ``mpref.TimeoutError`` is not Python 3's builtin ``TimeoutError`` (an
``OSError``); it is the spec's own class, raised by ``AsyncResult.get`` and
``imap`` iterators when a result does not arrive in time.
"""

__all__ = ['ProcessError', 'BufferTooShort', 'TimeoutError', 'AuthenticationError']


class ProcessError(Exception):
    """Base class of every exception defined by mpref."""


class BufferTooShort(ProcessError):
    """``Connection.recv_bytes_into()`` was given a buffer too small for the message.

    The whole message, as bytes, is ``args[0]`` -- nothing is lost.
    """


class TimeoutError(ProcessError):  # noqa: A001 - the spec's name on purpose
    """A result did not arrive within the requested timeout."""


class AuthenticationError(ProcessError):
    """The digest challenge between a Listener and a Client failed."""

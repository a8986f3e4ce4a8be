"""Tools for writing a chapter's tests (they run in the sandbox, like the tests themselves).

* ``within(seconds, message, function, *args)`` -- call something of the
  student's that might hang, and turn a hang into ``Wrong(message)``;
* ``in_background(function, *args)`` -- a daemon thread whose failure is not
  the student's concern (the other end of a pipe, say);
* ``contexts()`` -- where an answer must work: mpref under ``fork`` and
  ``spawn``, and the stdlib's ``multiprocessing`` under ``fork``;
* ``exception_name(exc)`` -- ``struct.error: ...``, as a reader would look it up.
"""

import threading

import mpref

from . import Wrong


def within(seconds, message, function, *args):
    """Return ``function(*args)``, called in a daemon thread; raise ``Wrong(message)`` if it is
    still running after ``seconds``.

    What the function raises is raised again here (the runner names the line of
    the student's cell).  A thread left hanging dies with the sandbox.
    """
    box = {}

    def call():
        try:
            box['value'] = function(*args)
        except BaseException as exc:
            box['error'] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise Wrong(message)
    if 'error' in box:
        raise box['error']
    return box.get('value')


def in_background(function, *args):
    """Start ``function(*args)`` in a daemon thread and return the thread; what it raises is ignored."""
    def quietly():
        try:
            function(*args)
        except Exception:
            pass        # e.g. a writer whose reader gave up early: the test says what went wrong
    thread = threading.Thread(target=quietly, daemon=True)
    thread.start()
    return thread


def contexts(stdlib=True):
    """``(label, context)`` pairs: mpref with fork, mpref with spawn, and (``stdlib``) the stdlib with fork.

    A context has ``Process``, ``Pipe``, ``Queue``, ``Lock``... as the namespace
    has; the labels are for messages ("under mpref with spawn, ...").
    """
    found = [('mpref with fork', mpref.get_context('fork')), ('mpref with spawn', mpref.get_context('spawn'))]
    if stdlib:
        import multiprocessing      # the yardstick: an answer must work there too
        found.append(("the stdlib's multiprocessing with fork", multiprocessing.get_context('fork')))
    return found


def exception_name(exc):
    """``'struct.error: unpack requires ...'``: an exception's type, qualified unless builtin, and message."""
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == 'builtins' else '%s.%s' % (kind.__module__, kind.__name__)
    return '%s: %s' % (name, exc) if str(exc) else name

"""Starting a child with ``fork`` -- the default start method (spec 16.6.2.1).

Chapter: ``notebooks/01_process.ipynb``.

``os.fork()`` makes the child an exact copy of the parent, so the child needs
nothing sent to it: it already holds the ``Process`` object, its target, its
arguments, and every lock, pipe and shared-memory mapping the parent had.  It
calls ``process_obj._bootstrap()`` and leaves with ``os._exit()``: a forked
child must not run the parent's ``atexit`` handlers or unwind the parent's
stack (that is the parent's business, and doing it twice corrupts things).

The ``Popen`` class here is also the base of ``popen_spawn.Popen``: waiting,
polling and terminating a child do not depend on how it was started.
"""

import os
import signal
import threading

from . import util

__all__ = ['Popen']

#: ``os.waitpid`` options meaning "block until the child exits" (no WNOHANG).
WAIT_BLOCKING = 0


class Popen:
    """The parent's handle on one child process: its pid and how to wait for it.

    ``sentinel`` is a file descriptor that becomes readable when the child
    has exited (see ``util.adopt_sentinel``), which lets ``wait(timeout)``
    sleep in ``poll()`` instead of spinning on ``waitpid``.
    """

    method = 'fork'

    def __init__(self, process_obj):
        util.flush_std_streams()     # or the child would print the parent's buffered output again
        self.returncode = None
        self.pid = None
        self.sentinel = None
        self._launch(process_obj)
        self._close_sentinel = util.Finalize(self, os.close, (self.sentinel,))

    def _launch(self, process_obj):
        with util.start_lock:
            parent_r, child_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                # The child: it inherited start_lock held by this very thread.
                util.start_lock.release()
                _update_thread_identity()
                code = 1
                try:
                    os.close(parent_r)
                    util.adopt_sentinel(child_w)
                    # _bootstrap: the child's life, Process's one hook for the
                    # start methods (CPython's name; not the spec's API).
                    code = process_obj._bootstrap(after_fork=True)
                finally:
                    # Never return into the parent's code: if even os._exit
                    # fails (say, an exit code it cannot take), leave with 1.
                    try:
                        os._exit(code)
                    finally:
                        os._exit(1)
            os.close(child_w)
        self.pid = pid
        self.sentinel = parent_r

    def poll(self, flag=os.WNOHANG):
        """Return the exit code if the child has exited (reaping it), else None.

        A negative code ``-N`` means the child was killed by signal ``N``.
        """
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flag)
            except ChildProcessError:
                # Another thread reaped it first; it has set returncode.
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        """Wait up to ``timeout`` seconds (None: forever) for the child to exit.

        Return the exit code, or None if the child is still running.
        """
        if self.returncode is None:
            if timeout is None:
                # A blocking waitpid returns when *this* child exits.  The
                # sentinel could say so too late: a grandchild forked with a
                # bare os.fork() keeps a copy of its write end open.
                return self.poll(WAIT_BLOCKING)
            if not util.wait_readable(self.sentinel, timeout):
                # Timed out -- but the child may be dead with that grandchild
                # holding the sentinel open: one last look before giving up.
                return self.poll()
            # The sentinel is at EOF, so the child is dead: this waitpid is instant.
            return self.poll(WAIT_BLOCKING)
        return self.returncode

    def close(self):
        """Close the sentinel: the parent's one descriptor for this child."""
        self._close_sentinel()

    def terminate(self):
        """Send SIGTERM (unless the child has already been reaped)."""
        self._send_signal(signal.SIGTERM)

    def kill(self):
        """Send SIGKILL (unless the child has already been reaped)."""
        self._send_signal(signal.SIGKILL)

    def _send_signal(self, sig):
        # Once reaped, the pid may belong to an unrelated new process.
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def _update_thread_identity():
    """In a forked child: make ``threading`` report this process's thread id.

    After a fork, ``threading`` makes the forking thread the child's main
    thread and gives it its new ``ident``, but keeps the parent's
    ``native_id`` (the id the kernel shows in ``/proc``; checked on Python
    3.10 to 3.13).  ``_set_native_id`` is private; CPython's own
    multiprocessing calls it at the same point.
    """
    thread = threading.main_thread()
    if thread.native_id != threading.get_native_id():
        thread._set_native_id()

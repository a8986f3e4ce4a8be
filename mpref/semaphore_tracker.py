"""The semaphore tracker: unlinks the semaphores of a creator that was killed.

Chapter: ``notebooks/03_synchronization.ipynb`` (spec 16.6.2.5: the
primitives it cleans up after; CPython's ``resource_tracker`` plays the same
part).

A POSIX named semaphore outlives every process unless someone calls
``sem_unlink``.  ``semlock`` unlinks the names it creates when their
objects are collected or, at the latest, when the creating process exits.
A process killed with SIGKILL runs no exit handler -- and Jupyter ends every
kernel that way, so ``pytest --nbval`` does it to each chapter.  Hence this
small process, one per creating process::

    creator --- pipe: "REGISTER /mpref-...", "UNREGISTER /mpref-..." ---> tracker
    creator dies (however)  =>  end of file  =>  tracker unlinks what is left

The creator keeps the only writing end of the pipe.  The tracker runs in a
new session (a Ctrl-C at the terminal does not reach it) and is started
through a short-lived intermediate process, so it is nobody's child and
nobody has to reap it.  It runs this module: ``python -m
mpref.semaphore_tracker FD``.
"""

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading

from . import util

__all__ = ['Tracker', 'LIBRARY_PATH', 'main']


def _find_semaphore_library():
    """The C library holding ``sem_open``: libc (glibc >= 2.34, macOS's
    libSystem), or libpthread on older glibc; None: the running program."""
    for name in ('c', 'pthread'):
        path = ctypes.util.find_library(name)
        if hasattr(ctypes.CDLL(path), 'sem_open'):
            return path
    return None


#: The library ``semlock`` calls for its semaphores; the tracker needs
#: only its ``sem_unlink``.
LIBRARY_PATH = _find_semaphore_library()


class Tracker:
    """This process's end of the pipe to its tracker.

    ``tell('REGISTER', name)`` for each name the process creates (the first
    one starts the tracker), ``tell('UNREGISTER', name)`` for each name it
    unlinks itself.  A forked child has its own tracker: it closes its copy
    of the parent's pipe end (else the parent's tracker would not see end of
    file when the parent dies) and starts its own when it first creates a
    semaphore, so a killed child's names go at once, not when its parent
    dies.
    """

    def __init__(self):
        self._fd = None
        self._pid = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self):
        self._lock = threading.Lock()       # another thread may have held it
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def tell(self, command, name):
        """Send ``command`` (``REGISTER`` or ``UNREGISTER``) about ``name``."""
        if self._pid != os.getpid():
            if command != 'REGISTER':
                return              # not our tracker's name: the parent's business
            self._start()
        if self._fd is not None:
            try:
                os.write(self._fd, ('%s %s\n' % (command, name)).encode())
            except OSError:
                pass                # the tracker is gone: nothing more we can do

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            r, w = os.pipe()
            # The child must find this package even when it is not installed.
            package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(
                [package_parent] + [p for p in [env.get('PYTHONPATH')] if p])
            try:
                subprocess.run([sys.executable, '-m', 'mpref.semaphore_tracker', str(r)],
                               pass_fds=(r,), env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, check=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as exc:
                util.sub_warning('cannot start the semaphore tracker: %s', exc)
                os.close(w)
                return
            finally:
                os.close(r)
            self._fd = w


def main(fd):
    """The tracker process: collect names until end of file, then unlink the rest.

    Called in the intermediate process, which forks the real tracker and
    leaves at once (so the creator's ``subprocess.run`` returns).
    """
    if os.fork():
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sem_unlink = ctypes.CDLL(LIBRARY_PATH).sem_unlink
    sem_unlink.argtypes = [ctypes.c_char_p]
    names = set()
    with open(fd, 'rb') as pipe:
        for line in pipe:
            command, name = line.decode().split()
            if command == 'REGISTER':
                names.add(name)
            else:
                names.discard(name)
    for name in names:
        sem_unlink(name.encode())


if __name__ == '__main__':
    main(int(sys.argv[1]))

"""Signals and the state of mpref's locks: a signal's exception (Ctrl-C's
``KeyboardInterrupt``) must never land in the middle of a change and leave a
lock taken that nobody owns.

Spec 16.6.2.5 (its note on Ctrl-C and a blocked ``acquire``) and 16.6.1.3;
the same holds for the locks mpref takes on the caller's behalf in 16.6.2.2
(queues) and 16.6.2.6 (synchronized shared values).

Chapter: ``notebooks/03_synchronization.ipynb`` (sections 3.9 and 3.10).

**Asynchronous exceptions.**  Python runs signal handlers in the main
thread only, and there only at a few points of the bytecode: where a
function starts, after a call returns, at a jump back (on Python 3.10 at
any jump taken).  Never in the middle of a C call, and never between
plain instructions -- loads, stores, arithmetic on ints, unpacking a
sequence, assigning to a slice.  A handler that raises (SIGINT's) raises at
such a point.  Landing between ``sem_wait`` and the bookkeeping after it,
that exception would leave a semaphore taken that nobody owns (and ``with
lock:`` would never release it).  There are two ways to make a change safe
from it, and mpref uses each where it is the cheaper:

1. **Write the change so that an exception cannot cut it unnoticed** --
   the way of the hot paths, which pay almost nothing for it.  The C call
   that changes the semaphore writes its own result into a note, with no
   point between the call and the note where a handler could run:
   ``outcome[:] = map(sem_trywait, (handle,))`` (the call happens inside
   the slice assignment, a single instruction; ``result = sem_trywait(h)``
   would let a handler run after the call returns and before the result is
   stored).  The bookkeeping that follows is plain stores.  Around it all,
   an ``except BaseException`` reads the note and undoes what was done:
   a semaphore taken but not yet counted is posted back, a counted one is
   released.  ``SemLock.acquire`` ends with ``check_signals()``: handlers of
   signals that arrived meanwhile run there, while ``acquire`` can still
   undo -- so an exception leaving ``acquire`` always means "not acquired".
   ``release`` needs no note: its checks change nothing, and its change
   (bookkeeping, then ``sem_post``) has no point in between where a
   handler could run.  Blocking waits need no holding back either: a
   signal ends ``sem_wait`` with EINTR and its handler runs at once, so
   Ctrl-C interrupts a blocked ``acquire()`` at once.  The queue's ``put``
   (a slot taken, the object buffered) and a synchronized value's access
   (the lock taken on the caller's behalf) are written the same way.

2. **Hold the signals back** (``pthread_sigmask``; ``signals_held_back``)
   around a change too long to write that way: they stay pending in the
   kernel, and their handlers run when the mask is restored, after the
   change.  ``Condition.wait`` and ``notify`` (several semaphores that
   change together), ``Event``, ``JoinableQueue``, and ``Queue.get`` (an
   exception between a message's header and its payload would leave the
   rest in the pipe, to be misread as the next header).  It costs two
   system calls and a look at SIGTERM's handler per block, which is why the hot
   paths do not use it.  A blocking wait with signals held back goes in
   slices of ``SIGNAL_SLICE`` and lets them in between
   (``let_signals_in``), so Ctrl-C still interrupts it at once, to the
   eye.  SIGTERM is left out of the mask while it has no Python handler:
   then no Python code runs for it, and ``terminate()`` must still end a
   process stuck in a wait that cannot be cut into slices (a reader
   waiting for the rest of a message whose writer was killed).

What remains, in both ways: a handler that runs at the very first
instruction of ``__exit__`` leaves the lock held by its owner, as with any
context manager written in Python (where mpref itself takes the lock on
the caller's behalf, its ``except`` releases it); and a second signal's
exception landing in the few instructions of an ``except`` that is undoing
the first one's damage can cut that short.  In way 2, a signal that the
kernel gives to *another* thread while the main thread holds them back is
still handled in the main thread at its next bytecode, so mpref's own
threads (a queue's feeder) block signals (``block_signals_in_this_thread``)
and the kernel never gives one to them.  A tracing function (a debugger, a
coverage tool) runs Python code between any two lines, and so lets
handlers run there too: under one, way 1 is no longer exact.

What this module offers the rest of mpref:

* ``check_signals()`` -- run the handlers of pending signals now;
* ``main_thread_ident`` -- the thread in which handlers run;
* ``with signals_held_back:`` -- hold signals back around a block: the one
  spelling mpref uses wherever a block fits;
* ``holding_back()``, ``SIGNAL_SLICE``, ``let_signals_in()`` -- for a blocking
  wait that runs while signals are held back;
* ``FAULT_SIGNALS``, ``block_signals_in_this_thread()`` -- for mpref's own
  helper threads.

Holding back nests (``Event.set`` holds back, and the ``notify_all`` inside
it holds back again); only the outermost end restores the mask.  Other
threads never hold back: Python runs no handler there.
"""

import _signal
import ctypes
import os
import signal
import threading

__all__ = ['check_signals', 'main_thread_ident', 'signals_held_back', 'holding_back',
           'let_signals_in', 'SIGNAL_SLICE', 'FAULT_SIGNALS', 'block_signals_in_this_thread']

#: A blocking wait in the main thread lets signals in this often (seconds).
SIGNAL_SLICE = 0.05

#: Sent by the kernel for a fault in the thread itself: never blocked, or a
#: crash report would become a silent kill.
FAULT_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                           signal.SIGTRAP, signal.SIGABRT})


class _SignalsHeldBack:
    """``with signals_held_back:`` -- hold signals back around a block, for
    mpref's own code that takes a primitive and lets it go again on the
    caller's behalf (``Event``, the queues).  A ``with lock:`` alone would
    leave the lock held for ever if a signal's exception landed at the first
    instruction of ``release``, and the caller, who wrote no ``with``, could
    never release it.  Inside the block no handler runs (blocking waits still
    let signals in between their slices); what arrived meanwhile is handled
    when the block ends, after the release.

    In the main thread only: elsewhere no handler ever runs, and the block
    costs nothing.  Blocks nest; only the outermost end restores the mask."""

    def __enter__(self):
        global _deferring, _held_mask
        if _get_ident() != main_thread_ident:
            return
        if _deferring == 0:         # before counting: a handler may still run here
            _held_mask = _signals_to_hold_back()
        _deferring += 1
        if _deferring == 1:
            try:
                _pthread_sigmask(_SIG_BLOCK, _held_mask, _saved_mask)
            except BaseException:   # a handler of an earlier signal ran just now
                self.__exit__()
                raise

    def __exit__(self, *exc_info):
        # One object serves every block, so it keeps no note of what its
        # __enter__ did: the main thread is the one that held back.  The
        # handlers of what arrived meanwhile run as the mask is restored
        # (and may raise).
        global _deferring
        if _get_ident() == main_thread_ident:
            _deferring -= 1
            if _deferring == 0:
                _pthread_sigmask(_SIG_SETMASK, _saved_mask, None)


signals_held_back = _SignalsHeldBack()


def holding_back():
    """True in the main thread while it holds signals back."""
    return _deferring > 0 and _get_ident() == main_thread_ident


def let_signals_in():
    """Between two slices of a blocking wait in the main thread: run the
    handlers of pending signals (an exception propagates: the wait has taken
    nothing), then hold signals back again."""
    try:
        _pthread_sigmask(_SIG_SETMASK, _saved_mask, None)
        check_signals()
    finally:
        _pthread_sigmask(_SIG_BLOCK, _held_mask, None)


def block_signals_in_this_thread():
    """Block every signal but the faults in the calling thread, for good.

    For mpref's own helper threads (a queue's feeder thread).  Signals for
    the process go to a thread that does not block them.  If a helper thread
    took one, its handler would run in the main thread even while that holds
    signals back: so every helper thread blocks them all.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - FAULT_SIGNALS)


# --------------------------------------------------------------------------
# Helpers: the C calls, the set of signals held back, the main thread's state
# --------------------------------------------------------------------------

# Called through the running program (which has libc loaded) rather than
# signal.pthread_sigmask: that one runs the pending handlers as it returns,
# which is exactly what must not happen in the middle of a change.
# PyDLL: the call keeps the GIL (it never blocks), so no other thread can
# take the GIL in between and make the main thread wait to get it back.
# No ``argtypes``: every call passes an int and two sigset buffers (or None),
# which ctypes hands over as they are -- declared as ``c_void_p``, each
# buffer would first be converted, which doubles the cost of the call.
_pthread_sigmask = ctypes.PyDLL(None).pthread_sigmask
_pthread_sigmask.restype = ctypes.c_int
_SIG_BLOCK, _SIG_SETMASK = int(signal.SIG_BLOCK), int(signal.SIG_SETMASK)
_sigset_t = ctypes.c_ubyte * 256               # bigger than any sigset_t (glibc's: 128 bytes)

#: ``check_signals()``: run the handlers of the signals that arrived and wait
#: for the main thread, now (elsewhere than the main thread: nothing).  If one
#: raises (SIGINT's raises KeyboardInterrupt) ctypes re-raises that exception
#: from this call.  ``SemLock.acquire`` calls it at its end, while it can
#: still undo what it did.  (CPython's ``PyErr_CheckSignals``.)
check_signals = ctypes.pythonapi.PyErr_CheckSignals
check_signals.restype = ctypes.c_int
check_signals.argtypes = []

_get_ident = threading.get_ident



def _asynchronous_signals(left_out=()):
    """Every signal except ``FAULT_SIGNALS`` (blocking those would turn a
    crash report into a silent kill) and except ``left_out``."""
    sigset = _sigset_t()
    libc = ctypes.CDLL(None)
    libc.sigfillset(ctypes.byref(sigset))
    for signum in FAULT_SIGNALS:
        libc.sigdelset(ctypes.byref(sigset), signum)
    for signum in left_out:
        libc.sigdelset(ctypes.byref(sigset), signum)
    return sigset


#: ``Process.terminate()`` sends SIGTERM.  While SIGTERM has no Python
#: handler (its default action, or ignored), no Python code can run for it,
#: so holding it back protects nothing -- and would keep ``terminate()`` from
#: ending a process stuck in a wait that cannot be cut into slices (a reader
#: waiting for the rest of a message whose writer was killed).  So it is left
#: out of the mask then.  One look at its handler per outermost hold tells
#: (``_signal.getsignal``, the C function under ``signal.getsignal``: the
#: same answer without converting it to an enum, which costs twenty times as
#: much); the other signals whose default action ends the process (SIGINT,
#: SIGHUP, SIGQUIT) are held back whatever their handler: only
#: ``terminate()`` is promised to end a stuck process.
_masks = {}     # does SIGTERM have a Python handler? -> the set to block


def _signals_to_hold_back():
    """The set ``signals_held_back`` blocks: every asynchronous signal, less
    SIGTERM while it has no Python handler (one look, then a cached set)."""
    handled = callable(_signal.getsignal(signal.SIGTERM))
    mask = _masks.get(handled)
    if mask is None:
        mask = _masks[handled] = _asynchronous_signals([] if handled else [signal.SIGTERM])
    return mask


_held_mask = None                              # what the main thread blocks while holding back
_saved_mask = _sigset_t()                      # the main thread's mask before we held back
_deferring = 0                                 # how deeply the main thread holds them back
#: The ident of the thread in which Python runs signal handlers (after a
#: fork: the thread that forked).  Read it as ``signals.main_thread_ident``.
main_thread_ident = threading.main_thread().ident


def _after_fork_in_child():
    # The forking thread is the child's main thread, with its own mask.
    global main_thread_ident, _deferring
    main_thread_ident = _get_ident()
    _deferring = 0


os.register_at_fork(after_in_child=_after_fork_in_child)

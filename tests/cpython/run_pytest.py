"""pytest, with mpref standing in for ``multiprocessing`` from the first line.

The runner (``__main__.py``) starts pytest as ``python -m tests.cpython.run_pytest``
rather than ``python -m pytest``.  A child that a test *spawns* re-imports its
parent's main module (this one, under the name ``__mp_main__``) before it
unpickles anything, so it installs the stand-in and loads CPython's test file
the stand-in's way first -- before it unpickles, say, the target of a
manager's server process: ``MyManager._run_server``, a class of that file,
whose import would otherwise bring in the real ``multiprocessing``.
"""

import signal
import sys

from tests.cpython import stand_in

# A SIGINT that a test sends must raise KeyboardInterrupt (test_wait_result
# sends its parent one).  Python installs that handler only if SIGINT was not
# ignored when it started -- and a shell ignores SIGINT in every command it
# runs in the background (``cmd &``, nohup, many CI runners): the test would
# then wait its full 60 s for a signal that the kernel discarded.  Behave as
# when started from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

stand_in.load_cpython_tests()

if __name__ == '__main__':
    import pytest
    sys.exit(pytest.console_main())

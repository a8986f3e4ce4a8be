"""Tests for how long the pieces of a manager live: its server at shutdown, a
client's connections to a server that was restarted, and a proxy on its way to
another process (``mpref.managers``, ``mpref.proxies``, ``mpref.server``).

Spec: 16.6.2.7 (``shutdown()``, ``connect()``, remote managers), 16.6.2.8.1
(cleanup: the server counts the proxies of each referent).  Where the stdlib
behaves the same, the test runs on both (``impl``); where it fails its users
(a proxy in transit, a client after a restart), on mpref alone, saying so.
Every wait is bounded; every server is stopped; every child is joined.
"""

import signal
import threading
import time

import pytest

from tests.test_managers import IMPLS, WAIT, server_pid, wait_gone


@pytest.fixture(params=['mpref', 'stdlib'])
def impl(request):
    return IMPLS[request.param]


def linger_at_exit():
    """A server initializer: a non-daemonic thread keeps the process from exiting."""
    threading.Thread(target=time.sleep, args=(WAIT,), name='lingering').start()


# --------------------------------------------------------------------------
# shutdown_timeout (beyond the spec, Python 3.11)
# --------------------------------------------------------------------------

def test_shutdown_timeout_bounds_the_wait_for_a_lingering_server(impl):
    manager = impl.Lab(ctx=impl.ctx('fork'), shutdown_timeout=0.3)
    manager.start(linger_at_exit)
    pid = server_pid(manager)
    started = time.monotonic()
    manager.shutdown()
    elapsed = time.monotonic() - started
    assert wait_gone(pid)
    # The server did not leave by itself: after 0.3 s it was terminated.
    assert manager._process.exitcode == -signal.SIGTERM
    assert 0.25 <= elapsed < 1.8, elapsed       # mpref's default would wait 2 s


@pytest.mark.parametrize('value, error', [('1', TypeError), (None, TypeError),
                                          (True, TypeError), (-1, ValueError)])
def test_shutdown_timeout_must_be_seconds(value, error):
    with pytest.raises(error, match='shutdown_timeout'):
        IMPLS['mpref'].Lab(shutdown_timeout=value)

"""Adversarial tests for ``mpref.managers`` found after the managers work merged.

Spec: 16.6.2.7 (managers), 16.6.2.8 (proxy objects).  Each test is a case a
user hit by trying to break the manager: an exception that cannot be re-made
in the client, a proxy used after its manager is gone.
"""

import pytest

import mpref
from mpref import managers


class StubbornError(Exception):
    """An exception whose ``__init__`` takes two arguments but passes one to
    ``Exception``: it pickles, but unpickling calls ``StubbornError(a)``."""

    def __init__(self, a, b):
        super().__init__(a)
        self.b = b


class Thrower:
    def stubborn(self):
        raise StubbornError('the referent failed', 2)

    def echo(self, x):
        return x


class ThrowerManager(managers.BaseManager):
    pass


ThrowerManager.register('Thrower', Thrower)


@pytest.fixture
def thrower():
    with ThrowerManager(ctx=mpref.get_context('fork')) as manager:
        yield manager.Thrower()


def test_an_exception_the_client_cannot_rebuild_arrives_as_RemoteError(thrower):
    # Not a TypeError from unpickling in the client, with nothing about what
    # went wrong: a RemoteError carrying the server's traceback, naming it.
    with pytest.raises(managers.RemoteError, match='StubbornError') as info:
        thrower.stubborn()
    assert 'the referent failed' in str(info.value)
    assert thrower.echo(5) == 5                  # the connection goes on


def test_a_proxy_used_after_shutdown_says_the_manager_is_gone():
    manager = mpref.Manager()
    shared = manager.list([1])
    manager.shutdown()
    with pytest.raises(OSError, match='manager') as info:
        shared[0]
    assert isinstance(info.value, (FileNotFoundError, ConnectionRefusedError))
    del shared

"""A remote manager across hosts (spec 16.6.2.7.3), on network namespaces.

The hosts are network namespaces joined by veth pairs (``lab/netns.py``):
the server runs the spec's ``QueueManager`` in one, clients run in the others
(``mpref/targets/beyond.py``, each driven through a ``lab/remote_client.py``
handle), so every proxy call crosses a (virtual) network link to another
address.  Skipped, with the reason, where namespaces cannot be
made (not Linux, no iproute2, not root).  Every namespace and process goes away
after each test, whatever happens in it (the ``lab`` fixture).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from lab import netns
from lab.remote_client import RemoteClient as Remote
from mpref.targets import beyond

REASON = netns.unavailable_reason()
needs_namespaces = pytest.mark.skipif(REASON is not None, reason=str(REASON))

BEYOND = [sys.executable, '-m', 'mpref.targets.beyond']


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met within %s s' % timeout
        time.sleep(0.02)


@pytest.fixture
def lab():
    """Three hosts: ``server`` (the hub), ``b`` and ``c``; all removed afterwards."""
    if REASON is not None:
        pytest.skip(REASON)
    with netns.Lab(('server', 'b', 'c')) as made:
        yield made
    assert os.getpid() not in netns.namespaces().values()


@pytest.fixture
def server(lab):
    """The spec's queue server, running on host ``server``; its ``Popen``."""
    proc = lab.popen('server', BEYOND + ['serve'])
    assert json.loads(proc.stdout.readline()) == ['serving', ['0.0.0.0', beyond.PORT]]
    return proc


def test_the_shared_queue_crosses_hosts(lab, server):
    b = Remote(lab, 'b', lab.hub_address('b'))
    c = Remote(lab, 'c', lab.hub_address('c'))
    assert b.greeting == c.greeting == ['ok', 'connected']
    for word in ('hello', 'from', 'b'):
        assert b.ask('put', word) == ['ok', None]
    assert [c.ask('get', 10) for _ in range(3)] == [['ok', 'hello'], ['ok', 'from'], ['ok', 'b']]
    assert c.ask('get', 0.1) == ['error', 'Empty: ']


def test_hosts_are_separate_networks(lab, server):
    """b cannot reach c's address, nor the server's address on c's cable."""
    probe = ('import socket, sys\n'
             's = socket.socket(); s.settimeout(2)\n'
             'print(s.connect_ex((sys.argv[1], %d)))' % beyond.PORT)
    reachable = subprocess.run(['ip', 'netns', 'exec', lab.namespaces['b'], sys.executable, '-c',
                                probe, lab.hub_address('b')], capture_output=True, text=True)
    assert reachable.stdout.strip() == '0'
    unreachable = subprocess.run(['ip', 'netns', 'exec', lab.namespaces['b'], sys.executable, '-c',
                                  probe, lab.address('c')], capture_output=True, text=True)
    assert unreachable.stdout.strip() not in ('', '0')        # ENETUNREACH, not a connection


def test_a_wrong_authkey_is_refused_and_the_server_keeps_serving(lab, server):
    b = Remote(lab, 'b', lab.hub_address('b'))
    intruder = Remote(lab, 'c', lab.hub_address('c'), authkey=b'not-the-key')
    assert intruder.greeting[0] == 'error'
    assert intruder.greeting[1].startswith('AuthenticationError')
    assert intruder.proc.wait(20) == 1
    c = Remote(lab, 'c', lab.hub_address('c'))
    assert c.greeting == ['ok', 'connected']
    assert b.ask('put', 'still here') == ['ok', None]
    assert c.ask('get', 10) == ['ok', 'still here']
    assert server.poll() is None


def test_the_server_survives_a_client_that_vanishes_mid_call(lab, server):
    b = Remote(lab, 'b', lab.hub_address('b'))
    c = Remote(lab, 'c', lab.hub_address('c'))
    b.send('get')                                   # blocks in the server: the queue is empty
    wait_for(lambda: c.ask('waiting') == ['ok', 1])
    lab.remove_host('b')                            # kill b, delete its namespace and cable
    assert b.proc.poll() is not None
    # The server cannot know b is gone until it writes to it: b's pending
    # get() still takes the next item, and the reply is lost with the host.
    assert c.ask('put', 'lost with b') == ['ok', None]
    wait_for(lambda: c.ask('waiting') == ['ok', 0] and c.ask('qsize') == ['ok', 0])
    assert c.ask('put', 'kept') == ['ok', None]
    assert c.ask('get', 10) == ['ok', 'kept']
    assert Remote(lab, 'c', lab.hub_address('c')).greeting == ['ok', 'connected']
    assert server.poll() is None


def test_round_trips_are_measured_across_the_link_and_on_loopback(lab, server):
    across = Remote(lab, 'c', lab.hub_address('c'))
    local = Remote(lab, 'server', '127.0.0.1')
    for remote in (across, local):
        kind, small = remote.ask('roundtrips', 50)
        assert kind == 'ok' and 0 < small < 5
        kind, large = remote.ask('roundtrips', 3, 1 << 20)
        assert kind == 'ok' and 0 < large < 20


def test_a_delay_on_the_link_is_applied_or_explained(lab):
    why_not = lab.delay('c', 5)
    assert why_not is None or isinstance(why_not, str) and why_not


@needs_namespaces
def test_the_lab_leaves_nothing_behind_even_when_a_test_fails():
    lab = netns.Lab(('server', 'b'))
    names = list(lab.namespaces.values())
    proc = lab.popen('b', [sys.executable, '-c', 'import time; time.sleep(60)'])
    with pytest.raises(ZeroDivisionError):
        with lab:
            1 / 0
    assert proc.poll() is not None
    assert not set(names) & set(os.listdir('/var/run/netns'))
    assert os.getpid() not in netns.namespaces().values()
    lab.close()                                     # idempotent


@needs_namespaces
def test_namespaces_of_a_dead_maker_are_swept_with_their_processes():
    # A run killed by SIGTERM (or SIGKILL) runs no atexit: its namespaces stay.
    # The next Lab (and the next test session) removes them.
    maker = subprocess.Popen([sys.executable, '-c', 'pass'])
    maker.wait()                                    # a pid that is surely dead
    orphan = '%s%d-1-server' % (netns.PREFIX, maker.pid)
    subprocess.run(['ip', 'netns', 'add', orphan], check=True)
    sleeper = subprocess.Popen(['ip', 'netns', 'exec', orphan, sys.executable, '-c',
                                'import time; time.sleep(60)'])
    try:
        wait_for(lambda: subprocess.run(['ip', 'netns', 'pids', orphan], capture_output=True,
                                        text=True).stdout.strip())
        with netns.Lab(('server', 'b')) as lab:
            assert orphan not in netns.namespaces()
            assert set(lab.namespaces.values()) <= set(netns.namespaces())
        sleeper.wait(10)                            # killed with its namespace
        assert netns.sweep_orphans() == []
    finally:
        sleeper.kill()
        sleeper.wait()
        subprocess.run(['ip', 'netns', 'delete', orphan], capture_output=True)


def test_removing_a_host_removes_its_cable_from_the_hub(lab):
    def links(host):
        shown = subprocess.run(['ip', '-n', lab.namespaces[host], '-o', 'link'],
                               capture_output=True, text=True, check=True).stdout
        return sorted(line.split(':')[1].strip().split('@')[0] for line in shown.splitlines())
    assert links('server') == ['lo', 'to-b', 'to-c']
    lab.remove_host('b')
    assert links('server') == ['lo', 'to-c']
    assert set(lab.namespaces) == {'server', 'c'}
    with pytest.raises(ValueError, match='not one of the hosts'):
        lab.remove_host('server')


def test_unavailable_reason_says_what_is_missing(monkeypatch):
    if not sys.platform.startswith('linux'):
        assert 'Linux' in netns.unavailable_reason()
        return
    monkeypatch.setattr(netns.shutil, 'which', lambda name: None)
    assert "iproute2's `ip` command" in netns.unavailable_reason()
    monkeypatch.setattr(netns.shutil, 'which', lambda name: '/usr/sbin/' + name)
    monkeypatch.setattr(netns.os, 'geteuid', lambda: 1000)
    assert netns.unavailable_reason() == 'creating network namespaces needs root (euid is 1000)'


def test_bad_lab_arguments_are_refused():
    with pytest.raises(ValueError, match='two or more distinct'):
        netns.Lab(('only',))
    with pytest.raises(ValueError, match='two or more distinct'):
        netns.Lab(('a', 'a'))
    with pytest.raises(ValueError, match='at most 12 characters'):
        netns.Lab(('server', 'a-very-long-host-name'))

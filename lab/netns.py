"""Test hosts on one Linux kernel: network namespaces joined to a hub by virtual cables.

Lab equipment (``lab/``, not part of mpref and not installed with it) that
``notebooks/14_beyond_one_machine.ipynb`` and ``tests/test_remote_hosts.py``
use to give a manager server and its clients separate "machines".  Each host is a network
namespace (``ip netns add``): its own interfaces, addresses, routes and
loopback, so a process inside it sees only the network of that host.  The
first host is the hub; every other host is joined to it by a veth pair (a
virtual cable), with its own private /24::

    hub  10.231.1.1 <--- veth ---> 10.231.1.2  host 1
    hub  10.231.2.1 <--- veth ---> 10.231.2.2  host 2

The addresses exist only inside these namespaces, so no traffic can leave
them.  The namespaces' names carry this process's pid
(``mprefnet-<pid>-<n>-<host>``) so that runs side by side never meet, and
``close()`` -- also run at interpreter exit -- kills every process still in
a namespace and deletes the namespaces (deleting a namespace removes its
ends of the veth pairs, and so the pairs); ``sweep_orphans()`` removes those
of a maker that was killed before it could.

Needs Linux, root and iproute2's ``ip``; ``unavailable_reason()`` says why
not where they are missing.
"""

import atexit
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time

from lab.procfs import is_alive

__all__ = ['Lab', 'LabError', 'unavailable_reason', 'PREFIX', 'namespaces', 'sweep_orphans']

#: Every namespace made here is named ``PREFIX + '<pid>-<n>-<host>'``.
PREFIX = 'mprefnet-'

_counter = itertools.count(1)


class LabError(RuntimeError):
    """An ``ip`` command failed; the message carries its error output."""


def unavailable_reason():
    """None if namespaces can be made here, else a sentence saying why not."""
    if not sys.platform.startswith('linux'):
        return 'network namespaces need Linux (this is %s)' % sys.platform
    if shutil.which('ip') is None:
        return "network namespaces need iproute2's `ip` command, which is not installed"
    if os.geteuid() != 0:
        return 'creating network namespaces needs root (euid is %d)' % os.geteuid()
    probe = '%s%d-probe' % (PREFIX, os.getpid())
    made = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True, text=True)
    if made.returncode != 0:
        return '`ip netns add` is not allowed here: %s' % made.stderr.strip()
    subprocess.run(['ip', 'netns', 'delete', probe], capture_output=True)
    return None


def namespaces():
    """``{name: pid of the process that made it}`` for every lab namespace that exists."""
    try:
        names = os.listdir('/var/run/netns')
    except OSError:
        return {}
    made = {}
    for name in names:
        pid = name[len(PREFIX):].split('-', 1)[0]
        if name.startswith(PREFIX) and pid.isdigit():
            made[name] = int(pid)
    return made


def sweep_orphans():
    """Remove the lab namespaces whose maker is dead; return their names, sorted.

    ``close()`` runs at interpreter exit, but not when the maker is killed
    (SIGTERM, SIGKILL): its namespaces, and any process still in them, would
    stay for good.  Every new ``Lab`` (and the test session, at its start)
    sweeps them first.  A namespace of a maker still alive is left alone.
    """
    swept = []
    for name, pid in namespaces().items():
        if is_alive(pid):
            continue                            # its maker is alive: not ours to touch
        _kill_all_in(name)
        subprocess.run(['ip', 'netns', 'delete', name], capture_output=True)
        swept.append(name)
    return sorted(swept)


class Lab:
    """Hosts (network namespaces) joined to the first one by veth pairs.

    ``hosts``: short names, the first being the hub (say ``'server'``).
    Host number ``i`` (from 1) reaches the hub at ``10.231.i.1`` and is
    reached at ``10.231.i.2``; every host also has its own loopback.
    Raises ``LabError`` if an ``ip`` command fails (after undoing what
    was made).  Use as a context manager, or call ``close()``.
    """

    def __init__(self, hosts=('server', 'b', 'c')):
        if len(hosts) < 2 or len(set(hosts)) != len(hosts):
            raise ValueError('a lab needs two or more distinct host names, got %r' % (hosts,))
        for host in hosts:
            # The hub's end of a cable is named 'to-<host>': at most 15 characters.
            if not (isinstance(host, str) and host.isidentifier() and len(host) <= 12):
                raise ValueError('a host name must be an identifier of at most 12 '
                                 'characters, got %r' % (host,))
        run_id = '%s%d-%d-' % (PREFIX, os.getpid(), next(_counter))
        self.hub = hosts[0]
        self.namespaces = {host: run_id + host for host in hosts}
        self._numbers = {host: i for i, host in enumerate(hosts)}     # 0: the hub
        self._processes = []
        self._closed = False
        sweep_orphans()
        atexit.register(self.close)
        try:
            for ns in self.namespaces.values():
                _ip('netns', 'add', ns)
                _ip('-n', ns, 'link', 'set', 'lo', 'up')
            for i, host in enumerate(hosts[1:], start=1):
                self._cable(i, host)
        except BaseException:
            self.close()
            raise

    def _cable(self, i, host):
        hub_ns, host_ns = self.namespaces[self.hub], self.namespaces[host]
        # Both ends are made directly inside their namespaces: nothing ever
        # appears among this machine's own interfaces.
        _ip('link', 'add', 'to-' + host, 'netns', hub_ns, 'type', 'veth',
            'peer', 'name', 'eth0', 'netns', host_ns)
        _ip('-n', hub_ns, 'addr', 'add', '10.231.%d.1/24' % i, 'dev', 'to-' + host)
        _ip('-n', host_ns, 'addr', 'add', '10.231.%d.2/24' % i, 'dev', 'eth0')
        _ip('-n', hub_ns, 'link', 'set', 'to-' + host, 'up')
        _ip('-n', host_ns, 'link', 'set', 'eth0', 'up')

    def hub_address(self, host):
        """The hub's IPv4 address as seen from ``host`` (its end of their cable)."""
        return '10.231.%d.1' % self._number(host)

    def address(self, host):
        """``host``'s own IPv4 address on its cable to the hub."""
        return '10.231.%d.2' % self._number(host)

    def _number(self, host):
        if host == self.hub or host not in self.namespaces:
            raise ValueError('%r is not one of the hosts cabled to the hub: %r'
                             % (host, [h for h in self.namespaces if h != self.hub]))
        return self._numbers[host]

    def popen(self, host, argv, **kwds):
        """Start ``argv`` inside ``host``; return its ``subprocess.Popen``.

        stdin and stdout are pipes (text, line-buffered) unless ``kwds``
        says otherwise.  ``ip netns exec`` replaces itself with ``argv``,
        so the Popen's pid is the program's own.
        """
        if self._closed or host not in self.namespaces:
            raise ValueError('no host %r in this lab' % (host,))
        kwds.setdefault('stdin', subprocess.PIPE)
        kwds.setdefault('stdout', subprocess.PIPE)
        kwds.setdefault('text', True)
        kwds.setdefault('bufsize', 1)
        proc = subprocess.Popen(['ip', 'netns', 'exec', self.namespaces[host]] + list(argv), **kwds)
        self._processes.append((host, proc))
        return proc

    def delay(self, host, milliseconds):
        """Delay every packet ``host`` sends on its cable (``tc`` netem).

        Returns None if done, else why not (no ``tc``, or no netem in this
        kernel) -- a real link's latency is optional to show.
        """
        if shutil.which('tc') is None:
            return "no `tc` command (iproute2's traffic control)"
        done = subprocess.run(['ip', 'netns', 'exec', self.namespaces[host], 'tc', 'qdisc', 'add',
                               'dev', 'eth0', 'root', 'netem', 'delay', '%gms' % milliseconds],
                              capture_output=True, text=True)
        return None if done.returncode == 0 else 'tc netem: %s' % done.stderr.strip()

    def remove_host(self, host, timeout=10.0):
        """Pull the plug: kill every process in ``host``, delete its namespace.

        Its cable goes with it, so the hub loses its end too: the kernel
        dismantles a deleted namespace in the background, so this waits
        (up to ``timeout`` seconds) until the hub's end has gone.
        """
        if host == self.hub or host not in self.namespaces:
            raise ValueError('%r is not one of the hosts cabled to the hub' % (host,))
        ns = self.namespaces.pop(host)
        _kill_all_in(ns)
        _ip('netns', 'delete', ns)
        self._reap(host)
        hub_end = ['ip', '-n', self.namespaces[self.hub], 'link', 'show', 'to-' + host]
        deadline = time.monotonic() + timeout
        while subprocess.run(hub_end, capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                raise LabError('the hub still has its end of the cable to %r' % host)
            time.sleep(0.02)

    def close(self):
        """Kill every process of the lab and delete every namespace (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        for ns in list(self.namespaces.values()):
            _kill_all_in(ns)
            subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True)
        self.namespaces.clear()
        self._reap()

    def _reap(self, host=None):
        """Wait for the (killed) processes of ``host`` (None: of every host)."""
        keep = []
        for where, proc in self._processes:
            if host is not None and where != host:
                keep.append((where, proc))
                continue
            if proc.poll() is None:
                proc.kill()             # e.g. still in `ip netns exec`, before its exec
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._processes = keep

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return '<Lab hosts=%s%s>' % (list(self.namespaces), ' closed' if self._closed else '')


def _ip(*args):
    done = subprocess.run(('ip',) + args, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError('ip %s: %s' % (' '.join(args), done.stderr.strip()))


def _kill_all_in(ns, timeout=5.0):
    """SIGKILL every process in namespace ``ns`` and wait until none is left."""
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True)
        pids = [int(p) for p in listed.stdout.split()]
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)

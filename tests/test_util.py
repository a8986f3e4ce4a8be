"""Finalizers (``util.Finalize``) at the end of a process: nothing on stderr.

A process -- the main one, or a spawned child, which ends as any Python
program does -- collects at interpreter shutdown the objects still alive
then: held by a module, by ``sys``, by the current process's arguments, or
by a reference cycle.  Their finalizers must not run then (the modules they
use are being emptied); what has to happen before the end (unlinking names,
stopping pools and managers) happens earlier, at exit, by ``exitpriority``.
Each kind of object is tested in a real script, under fork and spawn, made
both in the parent and in the child, and held in every such place at once;
the script must write nothing at all to stderr.

Last, the two helpers that write to the standard streams when something
failed or a process ends (``util.report_error``, ``util.flush_std_streams``)
never raise, whatever the streams have become.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from mpref import util
from tests.conftest import RaisingStream

SCRIPT = '''
import sys

import mpref
from mpref import connection


def make(kind):
    """Objects of one kind, made here: (those a child can be given, all of them)."""
    if kind == 'semaphores':
        objs = [mpref.Lock(), mpref.RLock(), mpref.Semaphore(2), mpref.BoundedSemaphore(),
                mpref.Condition(), mpref.Event()]
        return objs, objs
    if kind == 'shared memory':
        objs = [mpref.Value('i', 1), mpref.Array('d', 10), mpref.RawArray('i', 100),
                mpref.RawValue('d')]
        return objs, objs
    if kind == 'queues':
        q, jq = mpref.Queue(), mpref.JoinableQueue()
        q.put('x')
        jq.put(1)
        return [q, jq], [q, jq]
    if kind == 'connections':
        a, b = mpref.Pipe()
        a.send('x')
        listener = connection.Listener()
        client = connection.Client(listener.address)
        return [a, b], [a, b, listener, client, listener.accept()]
    if kind == 'managers':
        manager = mpref.Manager()
        proxies = [manager.list([1]), manager.dict(), manager.Lock(), manager.Queue()]
        return proxies, [manager] + proxies
    if kind == 'pools':
        pool = mpref.Pool(1)
        return [], [pool, pool.apply_async(abs, (-1,))]
    raise ValueError(kind)


def keep_everywhere(kind, given=()):
    """Make objects of ``kind`` four times over and keep them alive until
    interpreter shutdown: held by sys, by a global of this module, by a
    reference cycle, and (what is returned) by whoever holds the return value."""
    global _kept
    sys._mpref_kept = [given, make(kind)[1]]       # names with "_" are cleared first
    _kept = make(kind)[1]
    cycle = [make(kind)[1]]
    cycle.append(cycle)
    return make(kind)


def child(kind, given, sent_back):
    keep_everywhere(kind, given)
    sent_back.put('done')


if __name__ == '__main__':
    kind, method = sys.argv[1:]
    mpref.set_start_method(method)
    given, held_by_main = keep_everywhere(kind)
    sent_back = mpref.Queue()
    p = mpref.Process(target=child, args=(kind, given, sent_back))   # the child holds given
    p.start()
    assert sent_back.get(timeout=60) == 'done'
    p.join(60)
    assert p.exitcode == 0, p.exitcode
    print('ok')
'''


@pytest.mark.parametrize('kind', ['semaphores', 'shared memory', 'queues', 'connections',
                                  'managers', 'pools'])
def test_objects_alive_at_interpreter_shutdown_print_nothing(tmp_path, start_method, kind):
    script = tmp_path / 'script.py'
    script.write_text(textwrap.dedent(SCRIPT))
    completed = subprocess.run([sys.executable, str(script), kind, start_method],
                               capture_output=True, text=True, timeout=90, cwd=str(tmp_path),
                               env=dict(os.environ, PYTHONWARNINGS=''))
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, 'ok\n', '')


@pytest.mark.parametrize('error', [ValueError('closed'), OSError(32, 'broken pipe'),
                                   RuntimeError('a stream that fails its own way')])
def test_flushing_the_std_streams_never_raises(monkeypatch, error):
    monkeypatch.setattr(sys, 'stdout', RaisingStream(error))
    monkeypatch.setattr(sys, 'stderr', RaisingStream(error))
    util.flush_std_streams()
    monkeypatch.setattr(sys, 'stdout', None)
    monkeypatch.setattr(sys, 'stderr', None)
    util.flush_std_streams()


@pytest.mark.parametrize('error', [ValueError('closed'), RuntimeError('odd'), SystemExit(2)])
def test_a_report_that_cannot_be_written_never_raises(monkeypatch, error):
    monkeypatch.setattr(sys, 'stderr', RaisingStream(error))
    try:
        raise KeyError('what went wrong')
    except KeyError:
        util.report_error('mpref: a test report:\n')


def test_a_report_says_its_heading_and_the_traceback(capsys):
    try:
        raise KeyError('what went wrong')
    except KeyError:
        util.report_error('mpref: a test report:\n')
    err = capsys.readouterr().err
    assert err.startswith('mpref: a test report:\nTraceback (most recent call last):\n'), err
    assert "KeyError: 'what went wrong'" in err

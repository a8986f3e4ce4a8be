"""The spec's example programs (16.6.4), each run as a real script in every mode.

Every program is started with ``python -m mpref.examples.NAME MODE`` under a
time bound and its *report* is checked, not just its exit status; an unknown
mode must print the usage and exit with status 2.  The benchmark program runs
at its tiny size with ``--json``: its structure is checked and every ratio
must be a finite number (no timing assertions).
"""

import json
import math
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from mpref import benchmarks
from mpref.examples import synchronize

ENV = dict(os.environ, PYTHON_COLORS='0')


def run_example(name, *args, timeout=90):
    """Run ``python -m mpref.examples.NAME ARGS``; return the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'mpref.examples.' + name, *args],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def report(name, *args):
    """The program's standard output, after checking it succeeded."""
    done = run_example(name, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --------------------------------------------------------------------------
# Unknown modes
# --------------------------------------------------------------------------

@pytest.mark.parametrize('name, args', [('pool', ['bogus']), ('synchronize', ['bogus']),
                                        ('synchronize', ['processes', 'extra']),
                                        ('webserver', ['bogus']), ('workers', ['bogus']),
                                        ('managers', ['bogus']), ('benchmarks', ['bogus'])])
def test_an_unknown_mode_prints_the_usage_and_exits_2(name, args):
    done = run_example(name, *args)
    assert done.returncode == 2
    assert done.stderr.startswith('usage: ')
    assert 'mpref.examples.' + name in done.stderr or 'mpref.benchmarks' in done.stderr
    assert done.stdout == ''


# --------------------------------------------------------------------------
# The custom managers and proxies program
# --------------------------------------------------------------------------

def test_the_managers_program_reports_every_kind_of_proxy():
    out = report('managers')
    blocks = out.split('-' * 20 + '\n')
    assert blocks[1] == 'you called Foo.f()\nyou called Foo.g()\n'       # Foo1: public methods
    assert blocks[2] == 'you called Foo.g()\nyou called Foo._h()\n'      # Foo2: exposed list
    assert blocks[3] == ' '.join('<%d>' % (i * i) for i in range(10)) + '\n'   # generator proxy
    assert 'op.add(23, 45) = 68\n' in blocks[4]                            # a module as referent
    assert 'op.pow(2, 94) = %d\n' % 2 ** 94 in blocks[4]
    assert 'op.getitem(list(range(10)), slice(2, 6)) = [2, 3, 4, 5]\n' in blocks[4]
    assert "some of op._exposed_ = ['add', 'getitem', 'mul', 'pow']\n" in blocks[4]


# --------------------------------------------------------------------------
# The pool program
# --------------------------------------------------------------------------

def _results(out, heading):
    """The ' says that ...' texts listed under ``heading`` in the pool report."""
    lines = out.split(heading + '\n', 1)[1].splitlines()
    texts = []
    for line in lines:
        if ' says that ' not in line:
            break
        texts.append(line.split(' says that ')[1])
    return texts


@pytest.mark.parametrize('mode', ['processes', 'threads'])
def test_the_pool_program_reports_every_check(mode):
    out = report('pool', mode)
    assert out.splitlines()[0] == (' Using %s ' % mode).center(79, '-')
    expected = (['mul(%d, 7) = %d' % (i, i * 7) for i in range(10)]
                + ['plus(%d, 8) = %d' % (i, i + 8) for i in range(10)])
    for heading in ['Ordered results using pool.apply_async():',
                    'Ordered results using pool.imap():',
                    'Unordered results using pool.imap_unordered() (sorted here):',
                    'Ordered results using pool.map() --- will block till complete:']:
        texts = _results(out, heading)
        assert (sorted(texts) if 'Unordered' in heading else texts) == \
            (sorted(expected) if 'Unordered' in heading else expected), heading
    kind = 'mpref.dummy.pool.Pool' if mode == 'threads' else 'mpref.pool.Pool'
    assert ('pool = <%s ' % kind) in out
    for line in ['\tGot ZeroDivisionError as expected from pool.apply()',
                 '\tGot ZeroDivisionError as expected from IMapIterator.next()',
                 '\tget(0.02) timed out at least once: True', '\tcallbacks succeeded',
                 '\tclose() succeeded', '\tterminate() succeeded',
                 '\tgarbage collection succeeded']:
        assert line in out.splitlines(), line


def test_the_pool_program_defaults_to_processes():
    assert report('pool').splitlines()[0] == ' Using processes '.center(79, '-')


# --------------------------------------------------------------------------
# The synchronization program
# --------------------------------------------------------------------------

SYNCHRONIZATION_REPORT = """\
test_value
\tNo more running processes: running.value = 0
test_queue
\t0 1 4 9 16 25 36 49 64 81 STOP
test_condition
\tmain is waiting
\tmain has woken up: True
\tchild is notifying
test_semaphore
\tat most 3 ran at once: True
test_join_timeout
\tjoin(timeout) returned early at least once: True; exitcode 0
test_event
\t5 have woken up
test_sharedvalues
\tTests passed
"""


@pytest.mark.parametrize('mode', synchronize.MODES)
def test_the_synchronization_program_passes_every_test(mode):
    out = report('synchronize', mode)
    header, rest = out.split('\n', 1)
    assert header == (' Using %s ' % mode).center(79, '-')
    assert rest == SYNCHRONIZATION_REPORT


def test_manager_mode_shares_proxies_not_shared_memory():
    import mpref
    with mpref.Manager() as manager:
        namespace = synchronize.manager_namespace(manager)
        assert type(namespace.Value('i', 1)).__name__ == 'ValueProxy'
        assert type(namespace.Lock()).__name__ == 'AcquirerProxy'
        assert namespace.Process is mpref.Process


# --------------------------------------------------------------------------
# The workers program
# --------------------------------------------------------------------------

def test_the_workers_program_reports_every_result_in_task_order():
    out = report('workers')
    results = re.findall(r'^\t *(\d+): (\w+\(\d+, \d+\) = \d+)$', out, flags=re.M)
    expected = (['mul(%d, 7) = %d' % (i, i * 7) for i in range(20)]
                + ['plus(%d, 8) = %d' % (i, i + 8) for i in range(10)])
    assert [int(number) for number, _ in results] == list(range(30))
    assert [text for _, text in results] == expected
    assert out.count('\tevery result came from one of the workers: True') == 2
    assert out.rstrip().endswith('workers stopped, exit codes: [0, 0, 0, 0]')


# --------------------------------------------------------------------------
# The pool of HTTP servers
# --------------------------------------------------------------------------

def test_the_webserver_demo_fetches_every_page_from_a_worker():
    out = report('webserver')
    lines = out.splitlines()
    assert lines[0] == '4 worker processes share one listening socket'
    assert lines[1:-1] == ['GET /page%d -> 200, served by one of the workers: True, '
                           'body names it: True' % i for i in range(8)]
    assert lines[-1] == 'workers stopped: True'


def test_the_webserver_serves_a_client_until_its_stdin_closes():
    server = subprocess.Popen([sys.executable, '-m', 'mpref.examples.webserver', 'serve'],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        first = server.stdout.readline()
        url = re.match(r'Serving at (http://127\.0\.0\.1:\d+/) using 4 worker processes', first)
        assert url, first
        assert server.stdout.readline().startswith('To exit')
        pages = []
        for path in ('a', 'b', 'c'):
            with urllib.request.urlopen(url.group(1) + path, timeout=10) as response:
                pages.append((response.status, response.headers['X-Worker'],
                              response.read().decode()))
        for (status, worker, body), path in zip(pages, 'abc'):
            assert status == 200
            assert re.fullmatch(r'Process-\d+', worker)
            assert body == '<p>Hello from %s, path /%s</p>\n' % (worker, path)
        server.stdin.close()
        assert server.wait(30) == 0
        assert server.stdout.read() == 'workers stopped: True\n'
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        server.stdout.close()


# --------------------------------------------------------------------------
# The benchmark program
# --------------------------------------------------------------------------

def test_the_benchmark_program_is_the_benchmark_command():
    from mpref.examples import benchmarks as program
    assert program.main is benchmarks.main


@pytest.mark.parametrize('names', [['queues', 'process'], ['sharedctypes', 'connection']])
def test_the_benchmark_program_prints_json_rows_with_finite_ratios(names):
    out = report('benchmarks', *names, '--size', 'tiny', '--json')
    results = json.loads(out)
    assert list(results) == names
    for name, rows in results.items():
        assert rows, name
        for row in rows:
            assert {'name', 'mpref', 'stdlib', 'unit', 'mpref/stdlib', 'mpref/floor'} <= set(row)
            for column in benchmarks.COLUMNS:
                value = row.get(column)
                assert value is None or (math.isfinite(value) and value > 0), (name, row)
            if row['stdlib'] is not None:
                assert math.isfinite(row['mpref/stdlib']) and row['mpref/stdlib'] > 0
            if row.get('floor') is not None:
                assert math.isfinite(row['mpref/floor']) and row['mpref/floor'] > 0
    # The rows that have them: threading and the floor for the queue, the floor for pipes.
    if 'queues' in results:
        assert results['queues'][0]['threading'] > 0 and results['queues'][0]['floor'] > 0
    if 'connection' in results:
        assert results['connection'][0]['floor'] > 0


def test_the_benchmark_table_names_each_benchmark_and_its_columns():
    out = report('benchmarks', 'process', '--size', 'tiny')
    assert out.startswith('== process: starting and joining a process (mpref.benchmarks.process) ==')
    header = out.splitlines()[1].split()
    assert header == ['benchmark', 'mpref', 'stdlib', 'threading', 'floor',
                      'mpref/stdlib', 'mpref/floor', 'unit']


def test_the_runner_refuses_an_unknown_name_or_size():
    with pytest.raises(ValueError, match='no benchmark'):
        benchmarks.run('nope')
    with pytest.raises(ValueError, match='size must be one of'):
        benchmarks.run('queues', 'huge')


def test_ratios_that_cannot_be_computed_are_null_in_json():
    rows = {'x': [{'name': 'baseline', 'mpref': 2.0, 'stdlib': None, 'unit': 'u'},
                  {'name': 'zero', 'mpref': 2.0, 'stdlib': 0.0, 'floor': 4.0, 'unit': 'u'}]}
    parsed = json.loads(benchmarks.as_json(rows))
    assert parsed['x'][0]['mpref/stdlib'] is None
    assert parsed['x'][1]['mpref/stdlib'] is None
    assert parsed['x'][1]['mpref/floor'] == 0.5

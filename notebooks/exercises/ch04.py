"""The exercises of chapter 4, queues (``notebooks/04_queues.ipynb``).

* 4.1 ``queue_steps`` -- when does a queue block? (predict, then run; warm-up)
* 4.2 ``collect`` -- join before you drain (break it, fix it; medium)
* 4.3 ``timed_join`` -- ``JoinableQueue.join(timeout)`` (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  Functions that children run (``sized_result``,
``_consume``) are at the top level of this module, so a spawned child can
import them.
"""

import time

import mpref

from . import Exercise, Wrong
from .tools import contexts, within


# -- 4.1: when does a queue block? ---------------------------------------------------------

#: The nine steps of ``queue_program`` and why each gives what it gives.
QUEUE_STEPS = [
    ('child puts 5 bytes; parent: join(5), is_alive()', 'a small object fits in the pipe: the child\'s '
     'feeder thread writes it and the child exits, although nobody has read it yet'),
    ('parent: q.get(timeout=5)', 'the object waits in the pipe for a reader'),
    ('child puts 1 MB; parent: join(1), is_alive()', 'a pipe holds about 64 KiB: the child, at exit, waits '
     'for its feeder thread to write the rest, and the feeder waits for a reader -- the spec\'s pitfall'),
    ('parent: len(q.get(timeout=10))', 'get() reads the whole message, however big'),
    ('parent: join(10), is_alive()', 'once the parent has read it, the feeder is done and the child exits'),
    ('A and B put 3 items each at once; the A items got, in order', "how A's and B's items interleave "
     "varies, but each producer's items arrive in the order it put them"),
    ("maxsize=1 queue holding 'x': put('y', timeout=0.2)", 'every slot is taken: put() waits its timeout '
     'and raises queue.Full'),
    ('get(timeout=0.2)', "the one item, 'x' ('y' never went in)"),
    ('get(timeout=0.2) again', 'the queue is empty: get() waits its timeout and raises queue.Empty'),
]


def _queue_trial(program):
    for number, ((call, _), result) in enumerate(zip(QUEUE_STEPS, program()), 1):
        print('step %d  %-58s -> %r' % (number, call, result))


def _queue_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(QUEUE_STEPS):
        raise Wrong('predict_queue() should return a list of %d results, one per step; it returned %r.'
                    % (len(QUEUE_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((call, why), guess, result) in enumerate(zip(QUEUE_STEPS, predicted, actual), 1):
        if _outcome(guess) != _outcome(result):
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, call, _outcome(guess), result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(QUEUE_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


def _outcome(value):
    """An exception class predicted for a step counts as its name: queue.Full == 'Full'."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    if isinstance(value, tuple):
        return list(value)
    return value


queue_steps = Exercise('4.1', 'When does a queue block?', test=_queue_test, trial=_queue_trial, timeout=60)


# -- 4.2: join before you drain -------------------------------------------------------------------

def sized_result(queue, job):
    """A worker of the check: puts ``(job, result)``, the result a string of ``job`` characters."""
    queue.put((job, '%d:' % job + 'x' * max(0, job - len('%d:' % job))))


def _expected(jobs):
    return ['%d:' % job + 'x' * max(0, job - len('%d:' % job)) for job in jobs]


SMALL_JOBS = [10, 20, 30, 40]
BIG_JOBS = [100_000, 200_000, 300_000, 400_000]


def _collect_trial(collect):
    ctx = mpref.get_context('fork')
    for jobs in (SMALL_JOBS[:3], BIG_JOBS[1:3]):
        what = '%d workers, results of %s characters' % (len(jobs), ' and '.join(map(str, jobs)))
        try:
            got = within(3, '', collect, ctx, sized_result, jobs)
        except Wrong:
            print('%s: after 3 seconds collect() was still running, so the trial stopped it.' % what)
        else:
            print('%s: collected, right: %s' % (what, got == _expected(jobs)))


def _collect_test(collect):
    import multiprocessing      # the yardstick: an answer must work there too
    for label, ctx in contexts():
        active = multiprocessing.active_children if 'stdlib' in label else mpref.active_children
        for jobs in (SMALL_JOBS, BIG_JOBS):
            what = 'With %d workers whose results are %s characters long, under %s' % (
                len(jobs), 'a few dozen' if jobs is SMALL_JOBS else '100 000 to 400 000', label)
            got = within(20, '%s, collect() had not returned after 20 seconds. A worker cannot exit while '
                         'its queue holds data nobody has read (its feeder thread waits for a reader), so a '
                         'join() before the get()s waits for ever: get every result first, then join.'
                         % what, collect, ctx, sized_result, list(jobs))
            if not isinstance(got, list) or len(got) != len(jobs):
                raise Wrong('%s, collect() returned %s; it should return a list of %d results.'
                            % (what, _short(got), len(jobs)))
            if got != _expected(jobs):
                if sorted(map(str, got)) == sorted(_expected(jobs)):
                    raise Wrong('%s, collect() returned the right results in the wrong order: results '
                                'arrive as workers finish; put them back in the order of `jobs` (each '
                                'comes with its job).' % what)
                raise Wrong('%s, collect() returned %s; expected the results %s.'
                            % (what, _short(got), _short(_expected(jobs))))
            if active():
                raise Wrong('%s, collect() returned while %d workers were still running: join every '
                            'worker (after getting the results) before returning.' % (what, len(active())))
    return ('collect() gathered results of a few bytes and of up to 400 000 characters from 4 workers, '
            "under mpref with fork and with spawn and under the stdlib's multiprocessing with fork, in "
            'the order of the jobs, every worker joined.')


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


collect = Exercise('4.2', 'Join before you drain', test=_collect_test, trial=_collect_trial, timeout=150)


# -- 4.3: JoinableQueue.join(timeout) -----------------------------------------------------------------

def _consume(tasks, delay):
    """A worker of the check: get tasks until None, each marked done after ``delay`` seconds."""
    while True:
        item = tasks.get(timeout=30)
        time.sleep(delay)
        tasks.task_done()
        if item is None:
            break


def _timed(function, *args):
    start = time.monotonic()
    result = function(*args)
    return result, time.monotonic() - start


def _join_test(TimedJoinableQueue):
    for label, ctx in contexts(stdlib=False):
        what = 'Under mpref with %s' % label.split()[-1]
        tasks = TimedJoinableQueue()
        got, took = within(5, '%s, join(0.5) on a queue where nothing was ever put was still waiting after 5 '
                           'seconds.' % what, _timed, tasks.join, 0.5)
        if got is not True or took > 0.4:
            raise Wrong('%s, join(0.5) on a queue where nothing was put returned %r after %.1f s; with no '
                        'unfinished task it should return True at once.' % (what, got, took))
        for n in range(3):
            tasks.put(n)
        got, took = within(5, '%s, join(0.5) with three unfinished tasks and no worker was still waiting '
                           'after 5 seconds: the timeout must bound the whole wait (wait on the condition '
                           'for what is left of it, not for ever).' % what, _timed, tasks.join, 0.5)
        if got is not False:
            raise Wrong('%s, join(0.5) with three unfinished tasks and no worker returned %r; when the '
                        'timeout expires first it should return False.' % (what, got))
        if not 0.4 <= took <= 3:
            raise Wrong('%s, join(0.5) with three unfinished tasks returned after %.1f s; it should wait '
                        'about its timeout, 0.5 s.' % (what, took))
        tasks.put(None)
        worker = ctx.Process(target=_consume, args=(tasks, 0.1))
        worker.start()
        got, took = within(15, '%s, join(10) was still waiting after 15 seconds although a worker marked '
                           'every task done.' % what, _timed, tasks.join, 10)
        worker.join(10)
        if got is not True:
            raise Wrong('%s, join(10) returned %r while a worker marked the four tasks done in about 0.4 s; '
                        'it should return True once every task is done.' % (what, got))
        if took > 8:
            raise Wrong('%s, join(10) returned only after %.1f s, although the last task was done after '
                        'about 0.4 s: wake up when task_done() notifies the condition, not at the timeout.'
                        % (what, took))
        got = within(5, '%s, join() with no timeout, every task done, did not return within 5 seconds.'
                     % what, tasks.join)
        if got is not True:
            raise Wrong('%s, join() with no timeout and every task done returned %r; it should return True.'
                        % (what, got))
        tasks.close()
    return ('join(timeout) returned True at once with nothing to do, False after its timeout with tasks '
            'unfinished, and True as soon as a worker had done every task -- under mpref with fork and '
            'with spawn.')


timed_join = Exercise('4.3', 'A join with a timeout', test=_join_test, timeout=120,
                      on_timeout='Does join() give up when its timeout expires?')

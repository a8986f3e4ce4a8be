"""The exercises of chapter 5, shared ctypes objects (``notebooks/05_shared_ctypes.ipynb``).

* 5.1 ``lost`` -- which updates are lost? (predict, then run; warm-up)
* 5.2 ``deposit`` -- a lost deposit (break it, fix it; medium)
* 5.3 ``particles`` -- an array of structures (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  Functions that children run are at the top level of this
module, so a spawned child can import them.
"""

import ctypes
import time

import mpref

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


# -- 5.1: which updates are lost? ---------------------------------------------------------

#: The five steps of ``lost_program`` and why each gives what it gives.
LOST_STEPS = [
    ('RawValue: the parent adds 1 in the child\'s gap', 'a raw value has no lock: the child read 0, the '
     'parent wrote 1, and the child wrote 0 + 1 over it'),
    ('Value: the parent adds 1 in the child\'s gap', "the wrapper's lock makes the child's read atomic and "
     'its write atomic, but not the pair: the parent gets in between, and its update is lost the same way'),
    ('Value, the child holds get_lock() across read and write', 'the parent\'s `with v.get_lock()` waits '
     'until the child is done, so both updates count'),
    ("Value (its lock an RLock): with v.get_lock(): v.value += 1", "v.value takes the wrapper's lock again, "
     'inside the with; an RLock lets the thread that holds it take it again'),
    ("Value(lock=mpref.Lock()): with v.get_lock(): v.value += 1",
     'a Lock is not recursive: v.value waits for the lock its own thread holds, for ever -- which is why '
     'Value makes an RLock by default'),
]


def _lost_trial(program):
    for number, ((call, _), result) in enumerate(zip(LOST_STEPS, program()), 1):
        print('step %d  %-58s -> %r' % (number, call, result))


def _lost_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(LOST_STEPS):
        raise Wrong('predict_lost() should return a list of %d results, one per step; it returned %r.'
                    % (len(LOST_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((call, why), guess, result) in enumerate(zip(LOST_STEPS, predicted, actual), 1):
        if guess != result:
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, call, guess, result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(LOST_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


lost = Exercise('5.1', 'Which updates are lost?', test=_lost_test, trial=_lost_trial, timeout=60)


# -- 5.2: a lost deposit ----------------------------------------------------------------------------

def _depositor(deposit, account, times, report):
    """A child: make ``times`` deposits of 1, then say 'done' (or what went wrong)."""
    try:
        for _ in range(times):
            deposit(account, 1)
    except BaseException as exc:
        report.send(exception_name(exc))
    else:
        report.send('done')
    report.close()


class SlowAccount:
    """A shared balance that behaves like a synchronized ``Value('d')``: ``value`` takes the
    lock (an ``RLock``, ``get_lock()``) for each read and each write -- and each read pauses a
    little after it, so that a deposit that does not hold the lock across its read and its
    write loses updates at once, not once in a while."""

    def __init__(self, ctx):
        self._balance = ctx.RawValue('d', 0.0)
        self._lock = ctx.RLock()

    def get_lock(self):
        return self._lock

    @property
    def value(self):
        with self._lock:
            balance = self._balance.value
        time.sleep(0.002)
        return balance

    @value.setter
    def value(self, balance):
        with self._lock:
            self._balance.value = balance


def _run_depositors(deposit, ctx, processes, times, patience, slow=False):
    """Run ``processes`` children making ``times`` deposits each into one shared account
    (a ``Value('d')``, or a ``SlowAccount`` if ``slow``).

    Returns ``(balance, outcomes)``; an outcome is None for a child still running after
    ``patience`` seconds (then killed).
    """
    account = SlowAccount(ctx) if slow else ctx.Value('d', 0.0)
    readers, children = [], []
    for _ in range(processes):
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_depositor, args=(deposit, account, times, writer))
        child.start()
        writer.close()
        readers.append(reader)
        children.append(child)
    deadline = time.monotonic() + patience
    outcomes = []
    for reader, child in zip(readers, children):
        if not reader.poll(max(0, deadline - time.monotonic())):
            outcomes.append(None)
            continue
        try:
            outcomes.append(reader.recv())
        except EOFError:
            child.join(5)
            outcomes.append('died with exit code %s' % child.exitcode)
    for reader, child in zip(readers, children):
        reader.close()
        if None in outcomes:
            child.kill()
        child.join(10)
    return account.value, outcomes


def _deposit_trial(deposit):
    ctx = mpref.get_context('fork')
    balance, outcomes = _run_depositors(deposit, ctx, 1, 20, patience=10)
    print('one process, 20 deposits of 1: the balance is %g' % balance)
    balance, outcomes = _run_depositors(deposit, ctx, 2, 20, patience=10)
    print('two processes at once, 20 deposits of 1 each: the balance is 40: %s' % (balance == 40))


def _deposit_test(deposit):
    for label, ctx in contexts():
        balance, outcomes = _run_depositors(deposit, ctx, 4, 25, patience=20, slow=True)
        what = ('With 4 processes making 25 deposits of 1 each at once into an account whose reads are a '
                'little slow, under %s' % label)
        if None in outcomes:
            raise Wrong('%s, %d of them were still running after 20 seconds. Does deposit() wait for a lock '
                        'that its own thread holds?' % (what, outcomes.count(None)))
        for outcome in outcomes:
            if outcome != 'done':
                raise Wrong('%s, deposit() raised %s.' % (what, outcome))
        if balance != 100:
            raise Wrong('%s, the balance ended at %g instead of 100: %d deposits were lost. Hold '
                        "`account.get_lock()` from the read to the write." % (what, balance, 100 - balance))
    return ('4 processes making 25 deposits each at once made exactly 100, under mpref with fork and with '
            "spawn and under the stdlib's multiprocessing with fork.")


deposit = Exercise('5.2', 'A lost deposit', test=_deposit_test, trial=_deposit_trial, timeout=150)


# -- 5.3: an array of structures ------------------------------------------------------------------------

def _mover(move_all, particles, times, report):
    """A child: call ``move_all(particles, 1.0, 0.5)`` ``times`` times; say 'done' or what went wrong."""
    try:
        for _ in range(times):
            move_all(particles, 1.0, 0.5)
    except BaseException as exc:
        report.send(exception_name(exc))
    else:
        report.send('done')
    report.close()


def _fields(Particle):
    return [(name, kind) for name, kind, *_ in getattr(Particle, '_fields_', [])]


def _particles_test(make_particles, move_all):
    wanted = [('x', ctypes.c_double), ('y', ctypes.c_double), ('moves', ctypes.c_int)]
    for label, ctx in contexts(stdlib=False):
        particles = within(5, 'make_particles(5) did not return within 5 seconds.', make_particles, 5)
        if not hasattr(particles, 'get_lock'):
            raise Wrong('make_particles(5) returned %r; it should return a synchronized shared array '
                        '(mpref.Array with its lock), so that move_all() can take the lock.' % (particles,))
        Particle = getattr(type(particles.get_obj()), '_type_', None)
        if not (isinstance(Particle, type) and issubclass(Particle, ctypes.Structure)
                and _fields(Particle) == wanted and len(particles) == 5):
            raise Wrong('make_particles(5) should return an array of 5 Particles; it returned an array of '
                        '%s %s.'
                        % (len(particles), getattr(Particle, '__name__', Particle)))
        start = [(p.x, p.y, p.moves) for p in particles]
        if start != [(float(i), 0.0, 0) for i in range(5)]:
            raise Wrong('make_particles(5) should put particle i at x=i, y=0, with moves=0; it holds %s.'
                        % start)
        # Does move_all respect the lock?  Hold it, and watch nothing move.
        reader, writer = ctx.Pipe(duplex=False)
        with particles.get_lock():
            child = ctx.Process(target=_mover, args=(move_all, particles, 1, writer))
            child.start()
            writer.close()
            time.sleep(0.5)
            moved = [p.moves for p in particles.get_obj()]
        done = reader.poll(15)
        outcome = reader.recv() if done else None
        reader.close()
        if not done:
            child.kill()
        child.join(10)
        what = 'Under %s' % label
        if any(moved):
            raise Wrong("%s, move_all() moved particles while another process held the array's lock: take "
                        '`particles.get_lock()` for the whole pass.' % what)
        if outcome != 'done':
            raise Wrong('%s, move_all() in a child %s.' % (what, 'raised %s' % outcome if outcome
                                                           else 'was still running after 15 seconds'))
        # Two children at once, 40 passes each (plus the one above).
        readers, children = [], []
        for _ in range(2):
            reader, writer = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_mover, args=(move_all, particles, 40, writer))
            child.start()
            writer.close()
            readers.append(reader)
            children.append(child)
        outcomes = [reader.recv() if reader.poll(20) else None for reader in readers]
        for reader, child in zip(readers, children):
            reader.close()
            if None in outcomes:
                child.kill()
            child.join(10)
        if outcomes != ['done', 'done']:
            raise Wrong('%s, two processes calling move_all() 40 times each at once: %s.'
                        % (what, outcomes))
        end = [(p.x, p.y, p.moves) for p in particles]
        expected = [(i + 81.0, 40.5, 81) for i in range(5)]
        if end != expected:
            raise Wrong('%s, after 81 passes of move_all(particles, 1.0, 0.5), the particles are %s instead '
                        'of %s.' % (what, end, expected))
    return ('make_particles() laid 5 Particles in shared memory, and move_all() moved them all under the '
            "array's lock, from two processes at once, under mpref with fork and with spawn.")


particles = Exercise('5.3', 'An array of structures', test=_particles_test, timeout=120)

"""The exercises of chapter 3, synchronization (``notebooks/03_synchronization.ipynb``).

* 3.1 ``locks`` -- who may release a lock? (predict, then run; warm-up)
* 3.2 ``transfer`` -- two accounts, two locks (break it, fix it; medium)
* 3.3 ``barrier`` -- a barrier for processes (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  Functions that children run (``_clerk``, ``_party``) and
the ``Accounts`` class are at the top level of this module, so a spawned child
can import them.
"""

import time

import mpref

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


# -- 3.1: who may release a lock? -----------------------------------------------------

#: The eight steps of ``locks_program`` and why each gives what it gives.
LOCK_STEPS = [
    ('parent: lock.acquire()', 'the lock was free'),
    ('parent: lock.acquire(timeout=0.2)', 'a Lock is not recursive: the thread that holds it waits like any '
                                          'other, and gives up after its timeout'),
    ('parent: rlock.acquire(), then rlock.acquire(timeout=0.2)',
     'an RLock is recursive: the thread that holds it may take it again (its count is 2)'),
    ('child: rlock.acquire(timeout=0.2)',
     'the RLock belongs to a thread of the parent: another process waits for it like anyone else'),
    ('child: rlock.release()', 'only the owner of an RLock may release it: anyone else gets AssertionError'),
    ('child: lock.release()', 'a Lock has no owner: any thread of any process may release it (a hand-off)'),
    ('parent: lock.acquire(timeout=0.2)', 'the child released the lock in step 6, so it is free again'),
    ('parent: bounded.release()', 'a BoundedSemaphore(1) that nobody acquired is at its maximum: one more '
                                  'release raises ValueError'),
]


def _locks_trial(program):
    for number, ((call, _), result) in enumerate(zip(LOCK_STEPS, program()), 1):
        print('step %d  %-56s -> %r' % (number, call, result))


def _locks_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(LOCK_STEPS):
        raise Wrong('predict_locks() should return a list of %d results, one per step; it returned %r.'
                    % (len(LOCK_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((call, why), guess, result) in enumerate(zip(LOCK_STEPS, predicted, actual), 1):
        if _outcome(guess) != _outcome(result):
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, call, _outcome(guess), result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(LOCK_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


def _outcome(value):
    """An exception class predicted for a step counts as its name: ValueError == 'ValueError'."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    return value


locks = Exercise('3.1', 'Who may release a lock?', test=_locks_test, trial=_locks_trial, timeout=30)


# -- 3.2: two accounts, two locks -----------------------------------------------------------

class Accounts:
    """Balances in shared memory, one lock per account (``accounts.locks[i]``).

    ``accounts[i]`` reads balance ``i`` and ``accounts[i] = x`` writes it; each
    access also notes, in shared memory, whether the account's lock was free --
    that is, whether the balance was touched without its lock held.
    """

    def __init__(self, ctx, balances):
        self._balances = ctx.RawArray('i', list(balances))
        self._unguarded = ctx.RawValue('i', 0)
        self.locks = [ctx.Lock() for _ in balances]

    def __len__(self):
        return len(self._balances)

    def __getitem__(self, i):
        self._note_unguarded(i)
        return self._balances[i]

    def __setitem__(self, i, value):
        self._note_unguarded(i)
        self._balances[i] = value

    def _note_unguarded(self, i):
        if self.locks[i].acquire(False):        # it was free: nobody held it
            self.locks[i].release()
            self._unguarded.value += 1

    def balances(self):
        return list(self._balances)

    def unguarded(self):
        return self._unguarded.value


def _clerk(transfer, accounts, moves, report):
    """A child: make every transfer of ``moves``, then say 'done' (or what went wrong)."""
    try:
        for source, target, amount in moves:
            transfer(accounts, source, target, amount)
    except BaseException as exc:
        report.send(exception_name(exc))
    else:
        report.send('done')
    report.close()


def _run_clerks(transfer, ctx, plans, patience):
    """Run one clerk process per plan of moves, on accounts of 1000 each.

    Returns ``(accounts, outcomes)``: each clerk's last word, or None for a clerk
    still running after ``patience`` seconds (then killed).
    """
    accounts = Accounts(ctx, [1000] * 3)
    readers, clerks = [], []
    for moves in plans:
        reader, writer = ctx.Pipe(duplex=False)
        clerk = ctx.Process(target=_clerk, args=(transfer, accounts, moves, writer))
        clerk.start()
        writer.close()
        readers.append(reader)
        clerks.append(clerk)
    deadline = time.monotonic() + patience
    outcomes = []
    for reader, clerk in zip(readers, clerks):
        if not reader.poll(max(0, deadline - time.monotonic())):
            outcomes.append(None)
            continue
        try:
            outcomes.append(reader.recv())
        except EOFError:
            clerk.join(5)
            outcomes.append('died with exit code %s' % clerk.exitcode)
    for reader, clerk in zip(readers, clerks):
        reader.close()
        if clerk.is_alive() and None in outcomes:
            clerk.kill()
        clerk.join(10)
    return accounts, outcomes


def _moves(source, target, times):
    return [(source, target, 1 + i % 3) for i in range(times)]


def _transfer_trial(transfer):
    ctx = mpref.get_context('fork')
    accounts, outcomes = _run_clerks(transfer, ctx, [_moves(0, 1, 20)], patience=10)
    print('one clerk, 20 transfers from account 0 to account 1: %s; balances %s'
          % (outcomes[0], accounts.balances()))
    accounts, outcomes = _run_clerks(transfer, ctx, [_moves(0, 1, 100), _moves(1, 0, 100)], patience=3)
    if None in outcomes:
        print('two clerks, 0 -> 1 and 1 -> 0 at the same time: after 3 seconds %d of them were still '
              'running, so the trial stopped them.' % outcomes.count(None))
    else:
        print('two clerks, 0 -> 1 and 1 -> 0 at the same time: %s; balances %s'
              % (outcomes, accounts.balances()))


#: Four clerks, moving money around the three accounts in both directions.
CLERK_PLANS = [_moves(0, 1, 40), _moves(1, 0, 40), _moves(1, 2, 40), _moves(2, 0, 40)]


def _expected_balances():
    balances = [1000] * 3
    for moves in CLERK_PLANS:
        for source, target, amount in moves:
            balances[source] -= amount
            balances[target] += amount
    return balances


def _transfer_test(transfer):
    for label, ctx in contexts():
        accounts, outcomes = _run_clerks(transfer, ctx, CLERK_PLANS, patience=15)
        what = 'With four clerks moving money 0 -> 1, 1 -> 0, 1 -> 2 and 2 -> 0 at once, under %s' % label
        if None in outcomes:
            raise Wrong('%s, %d clerks were still running after 15 seconds: a deadlock. A clerk holding '
                        "one account's lock waits for the other's, which a clerk going the other way holds. "
                        'Make every clerk take the two locks in the same order -- the lower account number '
                        'first -- whatever the direction of the transfer.' % (what, outcomes.count(None)))
        for outcome in outcomes:
            if outcome != 'done':
                raise Wrong('%s, a clerk failed: transfer() raised %s.' % (what, outcome))
        if accounts.unguarded():
            raise Wrong("%s, transfer() read or wrote a balance %d times without holding that account's "
                        'lock. Hold both accounts\' locks while you change the two balances.'
                        % (what, accounts.unguarded()))
        if accounts.balances() != _expected_balances():
            raise Wrong('%s, the balances ended as %s instead of %s: move `amount` from `source` to '
                        '`target`.' % (what, accounts.balances(), _expected_balances()))
    return ('four clerks moved money between three accounts in both directions at once, under mpref with '
            "fork and with spawn and under the stdlib's multiprocessing with fork: no deadlock, every "
            "balance touched under its lock, and every balance right.")


transfer = Exercise('3.2', 'Two accounts, two locks', test=_transfer_test, trial=_transfer_trial,
                    timeout=120, on_timeout='Is a clerk stuck waiting for a lock?')


# -- 3.3: a barrier for processes ---------------------------------------------------------------

#: How many times the parties meet at the barrier in the check.
ROUNDS = 4


def _party(barrier, arrived, index, parties, report):
    """A child: meet the others at ``barrier`` ROUNDS times; report how many had arrived each time."""
    seen = []
    try:
        for round_ in range(ROUNDS):
            time.sleep(0.04 * ((index + round_) % parties))      # arrive at different moments
            with arrived.get_lock():
                arrived[round_] += 1
            barrier.wait()
            seen.append(arrived[round_])
    except BaseException as exc:
        report.send(('raised', exception_name(exc)))
    else:
        report.send(('seen', seen))
    report.close()


def _barrier_test(Barrier):
    within(5, 'Barrier(1).wait() did not return within 5 seconds: with one party, the first wait() '
              'is the last arrival and must not block.', lambda: Barrier(1).wait())
    for label, ctx in contexts(stdlib=False):
        for parties in (2, 3):
            what = 'With %d processes meeting %d times, under %s' % (parties, ROUNDS, label)
            barrier = Barrier(parties)
            arrived = ctx.Array('i', ROUNDS)
            readers, children = [], []
            for index in range(parties):
                reader, writer = ctx.Pipe(duplex=False)
                child = ctx.Process(target=_party, args=(barrier, arrived, index, parties, writer))
                child.start()
                writer.close()
                readers.append(reader)
                children.append(child)
            deadline = time.monotonic() + 15
            reports = []
            for reader in readers:
                if reader.poll(max(0, deadline - time.monotonic())):
                    try:
                        reports.append(reader.recv())
                    except EOFError:
                        reports.append(('died', None))
                else:
                    reports.append(None)
            for reader, child in zip(readers, children):
                reader.close()
                if None in reports:
                    child.kill()
                child.join(10)
            if None in reports:
                done = [r[1] for r in reports if r and r[0] == 'seen']
                raise Wrong('%s, %d of them were still in wait() after 15 seconds. %s'
                            % (what, reports.count(None), 'Did the last one to arrive let the others go? '
                               'And for a second meeting, is the barrier back to its first state once '
                               'everyone has left it?' if not done else
                               'Some finished every round: does the barrier let each one through '
                               'exactly once per meeting?'))
            for report in reports:
                if report[0] == 'raised':
                    raise Wrong('%s, wait() raised %s.' % (what, report[1]))
                if report[0] == 'died':
                    raise Wrong('%s, a process died in wait().' % what)
                early = [round_ + 1 for round_, count in enumerate(report[1]) if count != parties]
                if early:
                    raise Wrong('%s, a process left wait() in meeting %d when only %d of the %d had '
                                'arrived: wait() must return only once all %d have called it.'
                                % (what, early[0], report[1][early[0] - 1], parties, parties))
    return ('with 1, 2 and 3 parties meeting %d times in a row, under mpref with fork and with spawn, '
            'nobody left the barrier before everyone had arrived, and nobody stayed stuck.' % ROUNDS)


barrier = Exercise('3.3', 'A barrier for processes', test=_barrier_test, timeout=120,
                   on_timeout='Does everyone leave wait() once the last one arrives?')

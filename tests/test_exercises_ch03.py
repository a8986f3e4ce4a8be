"""Chapter 3's exercises: the reference solutions, taken from the chapter itself, pass their
checks; typical mistakes get the message meant for them (``notebooks/exercises/ch03.py``)."""

import pytest

from notebooks.exercises import ch03
from tests.exercise_cells import answer, chapter_cells

CH03 = chapter_cells('03_synchronization.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch03.locks, [('ch03-ex1-answer', 'predict_locks'), ('ch03-ex1-program', 'locks_program')]),
    (ch03.transfer, [('ch03-ex2-answer', 'transfer')]),
    (ch03.barrier, [('ch03-ex3-answer', 'Barrier')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_3s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH03[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    predict = 'def predict_locks():\n    return [True, True, True, False, None, None, True, None]\n'
    result = ch03.locks.result(answer(predict, 'predict_locks'),
                               answer(CH03['ch03-ex1-program'], 'locks_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('3 of your 8 predictions differ from the run:\n'
                                     'step 2 (`parent: lock.acquire(timeout=0.2)`): you predicted True, '
                                     'the run gave False -- a Lock is not recursive')
    assert ("step 5 (`child: rlock.release()`): you predicted None, the run gave 'AssertionError'"
            in result.message)


def test_the_broken_transfer_is_stopped_and_explained():
    broken = answer(CH03['ch03-ex2-program'].replace('def broken_transfer', 'def transfer'), 'transfer')
    result = ch03.transfer.result(broken)
    assert result.status == 'wrong'
    assert 'were still running after 15 seconds: a deadlock.' in result.message
    assert 'the lower account number first' in result.message


def test_a_transfer_without_the_locks_is_caught():
    unguarded = answer('''
        def transfer(accounts, source, target, amount):
            accounts[source] -= amount
            accounts[target] += amount
    ''', 'transfer')
    result = ch03.transfer.result(unguarded)
    assert result.status == 'wrong'
    assert "without holding that account's lock" in result.message


def test_a_barrier_that_does_not_wait_is_caught():
    no_wait = answer('''
        class Barrier:
            def __init__(self, parties):
                self.parties = parties

            def wait(self):
                pass
    ''', 'Barrier')
    result = ch03.barrier.result(no_wait)
    assert result.status == 'wrong'
    assert 'a process left wait() in meeting 1 when only' in result.message


def test_a_barrier_that_cannot_be_reused_is_caught():
    # The last to arrive opens the gate for everyone, but nothing closes it again.
    one_shot = answer('''
        import mpref

        class Barrier:
            def __init__(self, parties):
                self.parties = parties
                self.mutex = mpref.Lock()
                self.count = mpref.Semaphore(0)
                self.gate = mpref.Semaphore(0)

            def wait(self):
                with self.mutex:
                    self.count.release()
                    if self.count.get_value() == self.parties:
                        for _ in range(self.parties):
                            self.gate.release()
                self.gate.acquire()
    ''', 'Barrier')
    result = ch03.barrier.result(one_shot)
    assert result.status == 'wrong', str(result)
    assert 'With 2 processes meeting 4 times, under mpref with fork' in result.message

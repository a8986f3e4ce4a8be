"""Chapter 5's exercises: the reference solutions, taken from the chapter itself, pass their
checks; typical mistakes get the message meant for them (``notebooks/exercises/ch05.py``)."""

import pytest

from notebooks.exercises import ch05
from tests.exercise_cells import answer, chapter_cells

CH05 = chapter_cells('05_shared_ctypes.ipynb')
PARTICLES = [('ch05-ex3-answer', 'make_particles'), ('ch05-ex3-answer', 'move_all')]


@pytest.mark.parametrize('exercise, answers', [
    (ch05.lost, [('ch05-ex1-answer', 'predict_lost'), ('ch05-ex1-program', 'lost_program')]),
    (ch05.deposit, [('ch05-ex2-answer', 'deposit')]),
    (ch05.particles, PARTICLES),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_5s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH05[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    predict = "def predict_lost():\n    return [1, 2, 2, 1, 1]\n"
    result = ch05.lost.result(answer(predict, 'predict_lost'),
                              answer(CH05['ch05-ex1-program'], 'lost_program'))
    assert result.status == 'wrong'
    assert result.message.startswith(
        '2 of your 5 predictions differ from the run:\n'
        "step 2 (`Value: the parent adds 1 in the child's gap`): you predicted 2, "
        "the run gave 1 -- the wrapper's lock makes the child's read atomic")
    assert "you predicted 1, the run gave 'stuck' -- a Lock is not recursive" in result.message


def test_the_broken_deposit_loses_deposits():
    broken = answer(CH05['ch05-ex2-program'].replace('def broken_deposit', 'def deposit'), 'deposit')
    result = ch05.deposit.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith(
        'With 4 processes making 25 deposits of 1 each at once into an account '
        'whose reads are a little slow, under mpref with fork, the balance ended at ')
    assert 'Hold `account.get_lock()` from the read to the write.' in result.message


def test_a_quick_unlocked_deposit_is_caught_too():
    quick = answer('''
        def deposit(account, amount):
            account.value += amount
    ''', 'deposit')
    result = ch05.deposit.result(quick)
    assert result.status == 'wrong'
    assert 'deposits were lost' in result.message


def test_a_deposit_that_takes_the_rlock_twice_is_right():
    # get_lock() taken, then account.value taken again: fine with the RLock that Value makes
    # by default -- so this deposit is right; the check must say solved, not stuck.
    twice = answer('''
        def deposit(account, amount):
            with account.get_lock():
                with account.get_lock():
                    account.value = account.value + amount
    ''', 'deposit')
    assert ch05.deposit.result(twice).status == 'solved'


def test_a_move_all_without_the_lock_is_caught():
    unlocked = CH05['ch05-ex3-answer'].replace('    with particles.get_lock():\n', '    if True:\n')
    result = ch05.particles.result(*[answer(unlocked, name) for _, name in PARTICLES])
    assert result.status == 'wrong'
    assert "move_all() moved particles while another process held the array's lock" in result.message


def test_raw_particles_are_caught():
    raw = CH05['ch05-ex3-answer'].replace('mpref.Array(Particle', 'mpref.RawArray(Particle')
    result = ch05.particles.result(*[answer(raw, name) for _, name in PARTICLES])
    assert result.status == 'wrong'
    assert 'it should return a synchronized shared array' in result.message

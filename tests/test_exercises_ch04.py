"""Chapter 4's exercises: the reference solutions, taken from the chapter itself, pass their
checks; typical mistakes get the message meant for them (``notebooks/exercises/ch04.py``)."""

import pytest

from notebooks.exercises import ch04
from tests.exercise_cells import answer, chapter_cells

CH04 = chapter_cells('04_queues.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch04.queue_steps, [('ch04-ex1-answer', 'predict_queue'), ('ch04-ex1-program', 'queue_program')]),
    (ch04.collect, [('ch04-ex2-answer', 'collect')]),
    (ch04.timed_join, [('ch04-ex3-answer', 'TimedJoinableQueue')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_4s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH04[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    predict = ('def predict_queue():\n'
               "    return [False, 'small', False, 1000000, False, ['A0', 'A1', 'A2'], None, 'x', 'Empty']\n")
    result = ch04.queue_steps.result(answer(predict, 'predict_queue'),
                                     answer(CH04['ch04-ex1-program'], 'queue_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 9 predictions differ from the run:\n'
                                     'step 3 (`child puts 1 MB; parent: join(1), is_alive()`): you predicted '
                                     'False, the run gave True -- a pipe holds about 64 KiB')
    assert "you predicted None, the run gave 'Full'" in result.message


def test_the_broken_collect_is_stopped_and_explained():
    broken = answer(CH04['ch04-ex2-program'].replace('def broken_collect', 'def collect'), 'collect')
    result = ch04.collect.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('With 4 workers whose results are 100 000 to 400 000 characters long, '
                                     'under mpref with fork, collect() had not returned after 20 seconds.')
    assert 'get every result first, then join' in result.message


def test_a_collect_that_does_not_join_is_caught():
    no_join = answer(CH04['ch04-ex2-answer'].replace('        p.join()', '        pass'), 'collect')
    result = ch04.collect.result(no_join)
    assert result.status == 'wrong'
    assert 'join every worker' in result.message


def test_a_join_that_ignores_its_timeout_is_caught():
    ignores = answer('''
        from mpref.queues import JoinableQueue

        class TimedJoinableQueue(JoinableQueue):
            def join(self, timeout=None):
                JoinableQueue.join(self)
                return True
    ''', 'TimedJoinableQueue')
    result = ch04.timed_join.result(ignores)
    assert result.status == 'wrong'
    assert 'with three unfinished tasks and no worker was still waiting after 5 seconds' in result.message


def test_a_join_that_returns_none_is_caught():
    returns_none = answer(CH04['ch04-ex3-answer'].replace('            return True', '            return'),
                          'TimedJoinableQueue')
    result = ch04.timed_join.result(returns_none)
    assert result.status == 'wrong'
    assert 'returned None' in result.message and 'should return True at once' in result.message

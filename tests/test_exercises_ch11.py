"""Chapter 11's exercises (``notebooks/exercises/ch11.py``): the reference solutions, taken from the
chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pytest

from notebooks.exercises import ch11
from tests.exercise_cells import answer, chapter_cells

CH11 = chapter_cells('11_programming_guidelines.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch11.refusals, [('ch11-ex1-answer', 'predict_refusals'), ('ch11-ex1-program', 'refusals_program')]),
    (ch11.collect, [('ch11-ex2-answer', 'collect')]),
    (ch11.count, [('ch11-ex3-answer', 'count')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_11s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH11[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_prediction_that_a_lock_travels_through_a_queue_is_explained():
    predict = 'def predict_refusals():\n    return ["ok", "ok", "refused", "ok", "refused", "refused"]\n'
    result = ch11.refusals.result(answer(predict, 'predict_refusals'),
                                  answer(CH11['ch11-ex1-program'], 'refusals_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 6 predictions differ from the run:\nstep 1 (put an '
                                     "mpref.Lock on a queue): you predicted 'ok', the run gave 'refused'")
    assert 'under fork nothing is pickled' in result.message


def test_joining_before_getting_is_stopped_and_explained():
    broken = answer(CH11['ch11-ex2-program'].replace('def broken_collect', 'def collect'), 'collect')
    result = ch11.collect.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('With children putting strings of [10, 1000000, 300000, 20] characters, '
                                     'under mpref with fork, collect() was still running after 30 seconds.')
    assert 'get every object, then join' in result.message


def test_the_counter_through_a_global_is_told_what_is_wrong():
    broken = answer(CH11['ch11-ex3-program'].replace('def broken_count', 'def count'), 'count')
    result = ch11.count.result(broken)
    assert result.status == 'wrong'
    assert 'under mpref with' in result.message
    assert 'get_lock()' in result.message or 'pass the counter as a Process argument' in result.message


def test_a_global_under_spawn_is_told_to_pass_the_counter():
    # The lock is held, but the counter still travels through a global: fine under fork, not under spawn.
    locked_global = CH11['ch11-ex3-program'].replace('def broken_count', 'def count').replace(
        '        COUNTER.value += 1', '        with COUNTER.get_lock():\n            COUNTER.value += 1')
    result = ch11.count.result(answer(locked_global, 'count'))
    assert result.status == 'wrong'
    assert result.message.startswith('With 2 children adding 1, 10 times each, under mpref with spawn, '
                                     'count() returned 0, not 20.'), result
    assert 'Pass the shared counter itself as an argument' in result.message


def test_an_increment_without_the_lock_loses_counts():
    unlocked = CH11['ch11-ex3-answer'].replace('        with counter.get_lock():          # the read and the '
                                               'write, as one step\n            counter.value += 1',
                                               '        counter.value += 1')
    assert unlocked != CH11['ch11-ex3-answer']
    result = ch11.count.result(answer(unlocked, 'count'))
    assert result.status == 'wrong'
    assert 'two children that read the same value lose an increment' in result.message, result


def test_chapter_11s_guarded_script_passes_and_the_unguarded_one_is_explained():
    assert ch11.script.result(answer(CH11['ch11-ex4-answer'], 'guarded_script')).status == 'solved'
    unguarded = answer(CH11['ch11-ex4-program'].replace('def unguarded_script', 'def guarded_script'),
                       'guarded_script')
    result = ch11.script.result(unguarded)
    assert result.status == 'wrong'
    assert result.message.startswith('A spawned child stopped with a RuntimeError')
    assert "if __name__ == '__main__':" in result.message


def test_a_script_that_avoids_spawn_is_not_a_fix():
    under_fork = answer(CH11['ch11-ex4-program'].replace('def unguarded_script', 'def guarded_script')
                        .replace("mpref.set_start_method('spawn')\n", ''), 'guarded_script')
    result = ch11.script.result(under_fork)
    assert 'not to avoid spawn' in result.message

"""Chapter 13's exercises (``notebooks/exercises/ch13.py``): the reference solutions, taken
from the chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pathlib

import pytest

from notebooks.exercises import ch13

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


CH13 = chapter_cells('13_benchmarks.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch13.races, [('ch13-ex1-answer', 'predict_races'), ('ch13-ex1-program', 'race_program')]),
    (ch13.map_rate, [('ch13-ex2-answer', 'map_rate')]),
    (ch13.pipe_row, [('ch13-ex3-answer', 'pipe_row')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_13s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH13[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_race_by_race():
    predict = "def predict_races():\n    return ['Array', 'lock=True', 'Thread', 'default']\n"
    result = ch13.races.result(answer(predict, 'predict_races'), answer(CH13['ch13-ex1-program'], 'race_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('1 of your 4 predictions differ from the run:\n'
                                     "race 2 (reading an item: Array(lock=True) or Array(lock=False)): "
                                     "you predicted 'lock=True', the winner was 'lock=False'")
    assert 'synchronized wrapper' in result.message


REFERENCE = CH13['ch13-ex2-answer']


def test_a_clock_that_includes_making_the_pool_is_told_so():
    slow = REFERENCE.replace('    with make_pool() as pool:\n', '    start = time.perf_counter()\n'
                                                                  '    with make_pool() as pool:\n')
    slow = slow.replace('            start = time.perf_counter()\n', '')
    assert slow != REFERENCE
    result = ch13.map_rate.result(answer(slow, 'map_rate'))
    assert result.status == 'wrong'
    assert 'Your clock also ran while something else happened: making the pool' in result.message


def test_a_benchmark_without_a_warm_up_is_told_to_run_one():
    cold = REFERENCE.replace('        pool.map(noop, items)                     # the warm-up: the workers start\n',
                             '')
    cold = cold.replace('for _ in range(times):', 'for _ in range(times + 1):')
    assert cold != REFERENCE
    result = ch13.map_rate.result(answer(cold, 'map_rate'))
    assert result.status == 'wrong'
    assert "run one map() before you start timing" in result.message


def test_the_broken_benchmark_is_told_what_to_return():
    broken = CH13['ch13-ex2-program'].replace('def broken_map_rate(make_pool, items)',
                                              'def map_rate(make_pool, items, times=5)')
    result = ch13.map_rate.result(answer(broken, 'map_rate'))
    assert result.status == 'wrong'
    assert result.message.startswith('map_rate() should return the median, the lowest and the highest rate')


def test_seconds_per_object_is_not_a_rate():
    per_object = CH13['ch13-ex3-answer'].replace('    return count / seconds', '    return seconds / count')
    assert per_object != CH13['ch13-ex3-answer']
    result = ch13.pipe_row.result(answer(per_object, 'pipe_row'))
    assert result.status == 'wrong'
    assert 'Is it count / seconds?' in result.message

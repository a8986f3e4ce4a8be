"""Chapter 7's exercises: the reference solutions pass their checks, typical mistakes get their message."""

import functools

import pytest

from notebooks.exercises import ch07

from tests.exercise_cells import answer, chapter_cells, edited_answer

CELLS = chapter_cells('07_pool.ipynb')
cell = functools.partial(edited_answer, CELLS)     # cell(grade_id, name, *replacements)


PROGRAM = ('ch07-ex1-program', 'outcomes_program')


@pytest.mark.parametrize('exercise, answers', [
    (ch07.outcomes, [('ch07-ex1-answer', 'predict_outcomes'), PROGRAM]),
    (ch07.first_over, [('ch07-ex2-answer', 'first_over')]),
    (ch07.tiny_pool, [('ch07-ex3-answer', 'TinyPool')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_the_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[cell(grade_id, name) for grade_id, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    wrong = answer('def predict_outcomes():\n'
                   '    return [[0, 1, 4, 9, 16], [0, 1, 2, 3, 4, "ValueError", 6, 7], '
                   '[0, 1, 2, 3, 4, "ValueError", 6, 7], "TimeoutError", "late", "ValueError"]\n',
                   'predict_outcomes')
    result = ch07.outcomes.result(wrong, cell(*PROGRAM))
    assert result.status == 'wrong'
    assert result.message.startswith('1 of your 6 predictions differ from the run:\nstep 2 '
                                     '(`pool.map(targets.fail_at, range(8))`)')
    assert 'one failing item fails the whole map call' in result.message


def test_the_broken_first_over_is_stopped_and_explained():
    broken = cell('ch07-ex2-program', 'first_over', ('def broken_first_over(', 'def first_over('))
    result = ch07.first_over.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('first_over(10000, numbers) was still running after 15 s on an endless '
                                     'input. map() reads its whole input')


def test_a_first_over_that_leaves_its_workers_is_told_so():
    leaky = cell('ch07-ex2-answer', 'first_over',
                 ('    with mpref.Pool(2) as pool:\n        for square',
                  '    pool = mpref.Pool(2)\n    if True:\n        for square'))
    result = ch07.first_over.result(leaky)
    assert result.status == 'wrong'
    assert 'worker processes still running' in result.message


def test_a_tiny_pool_that_returns_results_as_they_finish_is_told_about_the_order():
    unordered = cell('ch07-ex3-answer', 'TinyPool',
                     ('        values, error = [None] * len(items), None\n',
                      '        values, error = [], None\n'),
                     ('                values[index] = value\n', '                values.append(value)\n'))
    result = ch07.tiny_pool.result(unordered)
    # With three workers, squares finishing out of order is likely but not certain: the
    # message, when there is one, names the order.
    if result.status == 'wrong':
        assert 'not in the order of the input' in result.message


def test_a_tiny_pool_that_raises_at_once_leaves_stale_outcomes_and_is_told_so():
    hasty = cell('ch07-ex3-answer', 'TinyPool',
                 ('            elif error is None:\n                error = value\n',
                  '            else:\n                raise value\n'))
    result = ch07.tiny_pool.result(hasty)
    assert result.status == 'wrong'
    assert 'map() after a failed map' in result.message
    assert 'must collect every outcome before it raises' in result.message


def test_a_tiny_pool_whose_close_does_not_stop_the_workers_is_told_so():
    no_stop = cell('ch07-ex3-answer', 'TinyPool',
                   ('        for _ in self.workers:\n            self.tasks.put(None)\n', ''))
    result = ch07.tiny_pool.result(no_stop)
    assert result.status == 'wrong'
    assert 'tiny_pool.close() was still running after 20 s' in result.message

"""Chapter 12's exercises (``notebooks/exercises/ch12.py``): the reference solutions, taken
from the chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pathlib

import pytest

from notebooks.exercises import ch12

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


CH12 = chapter_cells('12_examples.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch12.statuses, [('ch12-ex1-answer', 'predict_statuses'), ('ch12-ex1-program', 'status_program')]),
    (ch12.workers, [('ch12-ex2-answer', 'run_workers')]),
    (ch12.namespace, [('ch12-ex3-answer', 'count_words')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_12s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH12[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_ending_by_ending():
    predict = 'def predict_statuses():\n    return [2, 1, 1, 3, 15]\n'
    result = ch12.statuses.result(answer(predict, 'predict_statuses'),
                                  answer(CH12['ch12-ex1-program'], 'status_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 5 predictions differ from the run:\n'
                                     "2 (a child raised ValueError; the parent joined it: the parent's exit "
                                     'status): you predicted 1, the run gave 0')
    assert 'SIGTERM is 15' in result.message


def test_joining_before_reading_is_told_to_read_first():
    broken = CH12['ch12-ex2-program'].replace('def broken_run_workers', 'def run_workers')
    result = ch12.workers.result(answer(broken, 'run_workers'))
    assert result.status == 'wrong'
    assert result.message.startswith('With mpref with fork and 8 tasks giving results of 200 kB, run_workers() '
                                     'was still running after 20 seconds.')
    assert 'get every result before you join the workers' in result.message


def test_a_lambda_in_a_pool_of_processes_is_reported():
    with_lambda = '''
        from collections import Counter

        def count_words(namespace, texts):
            with namespace.Pool(2) as pool:
                counts = pool.map(lambda text: Counter(text.split()), texts)
            total = Counter()
            for count in counts:
                total.update(count)
            return dict(total)
    '''
    result = ch12.namespace.result(answer(with_lambda, 'count_words'))
    assert result.status == 'wrong'
    assert 'PicklingError' in result.message or 'pickle' in result.message.lower()

"""Chapter 6's exercises: the reference solutions pass their checks, typical mistakes get their message."""

import functools

import pytest

from notebooks.exercises import ch06

from tests.exercise_cells import answer, chapter_cells, edited_answer

CELLS = chapter_cells('06_managers_and_proxies.ipynb')
cell = functools.partial(edited_answer, CELLS)     # cell(grade_id, name, *replacements)


PROGRAM = ('ch06-ex1-program', 'nested_program')


@pytest.mark.parametrize('exercise, answers', [
    (ch06.nested, [('ch06-ex1-answer', 'predict_nested'), PROGRAM]),
    (ch06.count, [('ch06-ex2-answer', 'count')]),
    (ch06.tally, [('ch06-ex3-answer', 'register_tally')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_the_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[cell(grade_id, name) for grade_id, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    wrong = answer('def predict_nested():\n    return [[1], [], [2], [2], [1], [1, 2]]\n', 'predict_nested')
    result = ch06.nested.result(wrong, cell(*PROGRAM))
    assert result.status == 'wrong'
    assert result.message.startswith("2 of your 6 predictions differ from the run:\nstep 1 "
                                     "(`d['items'].append(1)`): you predicted [1], the run gave []")
    assert "step 4 (`d['items'] += [3]`): you predicted [2], the run gave [2, 3]" in result.message
    assert 'an augmented assignment is a read' in result.message


def test_the_broken_count_loses_updates_and_is_told_so():
    broken = cell('ch06-ex2-program', 'count', ('def broken_count(counts, threads, times):',
                                                'def count(counts, lock, threads, times):'))
    result = ch06.count.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('In one process, count(counts, lock, threads=4, times=100) returned')
    assert 'hold the lock around both' in result.message


def test_a_threading_lock_is_not_enough_between_processes():
    own_lock = cell('ch06-ex2-answer', 'count',
                    ('    def work():\n', '    lock = threading.Lock()\n\n    def work():\n'))
    result = ch06.count.result(own_lock)
    assert result.status == 'wrong'
    assert result.message.startswith('With two processes started with fork')
    assert 'a threading.Lock made inside count() keeps out the threads of one process' in result.message


def test_a_proxy_that_exposes_nothing_is_told_what_to_expose():
    unexposed = cell('ch06-ex3-answer', 'register_tally', ("    _exposed_ = ('add', 'value')\n", ''))
    result = ch06.tally.result(unexposed)
    assert result.status == 'wrong'
    assert result.message.startswith("TallyProxy._exposed_ should name the two methods a proxy may call")


def test_a_registration_without_the_proxy_type_is_told_so():
    no_type = cell('ch06-ex3-answer', 'register_tally', (", proxytype=TallyProxy)", ')'))
    result = ch06.tally.result(no_type)
    assert result.status == 'wrong'
    assert result.message.startswith("'Tally' is registered without a proxy class of your own (its proxies "
                                     'would be made by AutoProxy)')

"""Chapter 10's exercises (``notebooks/exercises/ch10.py``): the reference solutions, taken from the
chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pytest

from notebooks.exercises import ch10
from tests.exercise_cells import answer, chapter_cells

CH10 = chapter_cells('10_dummy.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch10.apart, [('ch10-ex1-answer', 'predict_apart'), ('ch10-ex1-program', 'apart_program')]),
    (ch10.squares, [('ch10-ex2-answer', 'squares')]),
    (ch10.parallel_map, [('ch10-ex3-answer', 'parallel_map')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_10s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH10[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_prediction_that_a_child_process_shares_the_list_is_explained():
    predict = 'def predict_apart():\n    return [1, 1, "MainProcess", "MainProcess", 3]\n'
    result = ch10.apart.result(answer(predict, 'predict_apart'),
                               answer(CH10['ch10-ex1-program'], 'apart_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 5 predictions differ from the run:\nstep 1 ')
    assert "appended to its own copy of the list" in result.message
    assert "the main thread is 'MainThread'" in result.message


def test_the_broken_program_is_told_to_use_a_queue():
    broken = answer(CH10['ch10-ex2-program'].replace('def broken_squares', 'def squares'), 'squares')
    result = ch10.squares.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('With 10 numbers and 2 workers, under mpref with fork, squares() '
                                     'returned [None, None,')
    assert 'through something the processes share, such as a queue' in result.message


def test_joining_before_getting_is_a_deadlock_with_a_message():
    reference = CH10['ch10-ex2-answer']
    join_first = reference.replace('''    results = [None] * len(numbers)
    for _ in numbers:                     # every result first ...
        i, square = queue.get()
        results[i] = square
    for p in processes:                   # ... then join: nothing is left in a worker's pipe
        p.join()
''', '''    for p in processes:
        p.join()
    results = [None] * len(numbers)
    for _ in numbers:
        i, square = queue.get()
        results[i] = square
''')
    assert join_first != reference
    result = ch10.squares.result(answer(join_first, 'squares'))
    assert result.status == 'wrong'
    assert result.message.startswith('With 30000 numbers and 3 workers, under mpref with fork, squares() '
                                     'was still running after 60 seconds.')
    assert 'get every result first, then join' in result.message


def test_a_pool_without_stop_items_is_told_to_stop_its_workers():
    no_stop = CH10['ch10-ex3-answer'].replace('        tasks.put(None)', '        pass').replace(
        '    for p in processes:\n        p.join()\n    return gathered', '    return gathered')
    result = ch10.parallel_map.result(answer(no_stop, 'parallel_map'))
    assert result.status == 'wrong'
    assert 'worker(s) were still running' in result.message, result


def test_results_out_of_order_are_told_so():
    unordered = CH10['ch10-ex3-answer'].replace('        gathered[index] = value',
                                                '        gathered.append(value)').replace(
        '    gathered = [None] * len(items)', '    gathered = []')
    result = ch10.parallel_map.result(answer(unordered, 'parallel_map'))
    assert result.status == 'wrong'
    assert result.message.startswith('Mapping late_first over 10 items with 2 workers, under mpref.dummy '
                                     '(threads), parallel_map() returned the right results in the wrong '
                                     'order')


def test_a_result_missing_its_last_item_shows_the_difference():
    short = ('def parallel_map(mp, function, items, workers=2):\n'
             '    return [function(item) for item in items][:-1]\n')
    result = ch10.parallel_map.result(answer(short, 'parallel_map'))
    assert result.status == 'wrong'
    got, _, expected = result.message.partition(' instead of ')
    assert expected and got.split('returned ', 1)[1] != expected.rstrip('.'), result.message

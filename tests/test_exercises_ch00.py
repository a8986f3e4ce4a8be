"""Chapter 0's exercises (``notebooks/exercises/ch00.py``): the reference solutions, taken from
the chapter itself, pass their checks, and typical wrong answers get the message meant for them."""

import pathlib

import pytest

from notebooks.exercises import ch00

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


CH00 = chapter_cells('00_introduction.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch00.seen, [('ch00-ex1-answer', 'predict_seen'), ('ch00-ex1-program', 'seen_program')]),
    (ch00.guard, [('ch00-ex2-answer', 'fixed_script')]),
    (ch00.results, [('ch00-ex3-answer', 'map_in_processes')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_0s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH00[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_line_by_line():
    predict = ("def predict_seen():\n"
               "    return [['parent', 'thread', 'process'], ['parent', 'thread', 'process'], 0]\n")
    program = answer(CH00['ch00-ex1-program'], 'seen_program')
    result = ch00.seen.result(answer(predict, 'predict_seen'), program)
    assert result.status == 'wrong'
    assert result.message.startswith("1 of your 3 predictions differ from the run:\n1. the parent's `log`")
    assert 'appended \'process\' to its own copy of the list' in result.message


def test_the_unguarded_program_is_told_to_use_the_guard():
    broken = answer(CH00['ch00-ex2-program'].replace('def broken_script', 'def fixed_script'), 'fixed_script')
    result = ch00.guard.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('under spawn, the child started a process of its own while it was '
                                     'importing your program')
    assert "if __name__ == '__main__':" in result.message


def test_a_print_left_outside_the_guard_is_found():
    half = CH00['ch00-ex2-answer'].replace("if __name__ == '__main__':\n    print('starting', flush=True)",
                                           "print('starting', flush=True)\nif __name__ == '__main__':")
    assert half != CH00['ch00-ex2-answer']
    result = ch00.guard.result(answer(half, 'fixed_script'))
    assert result.message.startswith("'starting' was printed 2 times: the child printed it too")


def test_going_back_to_fork_is_not_a_fix():
    fork = CH00['ch00-ex2-program'].replace("'spawn'", "'fork'")
    fork = fork.replace('def broken_script', 'def fixed_script')
    result = ch00.guard.result(answer(fork, 'fixed_script'))
    assert result.message.startswith("the program no longer asks for 'spawn'")


def test_results_in_the_order_they_finish_are_told_so():
    unordered = CH00['ch00-ex3-answer'].replace('        results[index] = result',
                                                '        results[_] = result')
    unordered = unordered.replace('    for _ in items:', '    for _ in range(len(items)):')
    assert unordered != CH00['ch00-ex3-answer']
    result = ch00.results.result(answer(unordered, 'map_in_processes'))
    assert result.status == 'wrong'
    assert 'in the order the children finished, not in the order of the items' in result.message


def test_a_child_appending_to_a_list_is_told_where_its_list_is():
    global_list = '''
        found = []


        def keep(function, item):
            found.append(function(item))


        def map_in_processes(function, items, ctx):
            children = [ctx.Process(target=keep, args=(function, item)) for item in items]
            for child in children:
                child.start()
            for child in children:
                child.join()
            return list(found)
    '''
    result = ch00.results.result(answer(global_list, 'map_in_processes'))
    assert 'appends to its own copy, in its own memory' in result.message

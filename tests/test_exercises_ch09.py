"""Chapter 9's exercises (``notebooks/exercises/ch09.py``): the reference solutions, taken from the
chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pytest

from notebooks.exercises import ch09
from tests.exercise_cells import answer, chapter_cells

CH09 = chapter_cells('09_logging.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch09.levels, [('ch09-ex1-answer', 'predict_kept'), ('ch09-ex1-program', 'levels_program')]),
    (ch09.pieces, [('ch09-ex2-answer', 'log_from_children')]),
    (ch09.scratch, [('ch09-ex3-answer', 'scratch_folder')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_9s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH09[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_prediction_that_the_childs_record_is_kept_is_explained():
    predict = 'def predict_kept():\n    return ["two", "three", "four", "six"]\n'
    result = ch09.levels.result(answer(predict, 'predict_kept'),
                                answer(CH09['ch09-ex1-program'], 'levels_program'))
    assert result.status == 'wrong'
    assert result.message.startswith("1 of your predictions differ from the run:\n'four': you predicted "
                                     'it kept, the run dropped it')
    assert "The parent's list never sees it" in result.message


def test_a_prediction_that_ignores_the_level_is_explained():
    predict = 'def predict_kept():\n    return ["one", "two", "three", "six"]\n'
    result = ch09.levels.result(answer(predict, 'predict_kept'),
                                answer(CH09['ch09-ex1-program'], 'levels_program'))
    assert "'one': you predicted it kept, the run dropped it -- logged with info()" in result.message


def test_the_broken_program_mixes_records_and_is_told_so():
    broken = answer(CH09['ch09-ex2-program'].replace('def broken_log_from_children',
                                                     'def log_from_children'), 'log_from_children')
    result = ch09.pieces.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('With 3 children logging 10 records each, under mpref with fork (run ')
    assert 'were not whole records' in result.message
    assert 'ctx.Lock() in the parent' in result.message


def test_a_threading_lock_is_not_enough():
    threading_lock = CH09['ch09-ex2-answer'].replace(
        '    shared_lock = ctx.Lock()', '    import threading\n    shared_lock = threading.RLock()')
    result = ch09.pieces.result(answer(threading_lock, 'log_from_children'))
    assert result.status == 'wrong'
    assert 'were not whole records' in result.message or 'pickle' in result.message, result


def test_an_atexit_handler_does_not_run_in_a_forked_child():
    with_atexit = '''
def scratch_folder():
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, path, True)
    return path
'''
    result = ch09.scratch.result(answer(with_atexit, 'scratch_folder'))
    assert result.status == 'wrong'
    assert result.message.startswith('Under mpref with fork, in a child that called scratch_folder() twice, '
                                     '2 of the two folders still existed after the child exited normally.')
    assert 'atexit handlers never run in it' in result.message


def test_a_finalizer_without_an_exitpriority_is_told_so():
    no_priority = CH09['ch09-ex3-answer'].replace(", exitpriority=0)", ")")
    result = ch09.scratch.result(answer(no_priority, 'scratch_folder'))
    assert result.status == 'wrong'
    assert result.message == ('Under mpref with fork, in a child that called scratch_folder() twice, '
                              'scratch_folder() raised TypeError: Finalize needs an object to watch or an '
                              'exitpriority.'), result

"""Chapter 14's exercises (``notebooks/exercises/ch14.py``): the reference solutions, taken
from the chapter itself, pass their checks, and typical wrong answers are told what is wrong."""

import pathlib

import pytest

from notebooks.exercises import ch14

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


CH14 = chapter_cells('14_beyond_one_machine.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch14.remote, [('ch14-ex1-answer', 'predict_remote'), ('ch14-ex1-program', 'remote_program')]),
    (ch14.serve, [('ch14-ex2-answer', 'serve')]),
    (ch14.batched, [('ch14-ex3-answer', 'put_batched'), ('ch14-ex3-answer', 'get_batched')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_14s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH14[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_step_by_step():
    predict = "def predict_remote():\n    return [None, 1, 'hello', None, 'connected', 'still here']\n"
    result = ch14.remote.result(answer(predict, 'predict_remote'),
                                answer(CH14['ch14-ex1-program'], 'remote_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 6 predictions differ from the run:\n'
                                     "step 4 (`q.get(timeout=0.5)`): you predicted None, the run gave 'Empty'")
    assert "step 5 (`connect() with b'open sesame'`): you predicted 'connected'" in result.message
    assert 'before anything is unpickled' in result.message


def test_the_broken_server_is_told_to_use_a_thread_per_connection():
    broken = CH14['ch14-ex2-program'].replace('def broken_serve', 'def serve')
    result = ch14.serve.result(answer(broken, 'serve'))
    assert result.status == 'wrong'
    assert result.message.startswith("With mpref's Listener, a second client (the first still connected) "
                                     'could not connect within 3 seconds')
    assert 'a thread of its own' in result.message


def test_a_server_that_stops_accepting_is_told_so():
    # The first client in a thread, the second in serve() itself, and no accept() after
    # that: the third client is never let in.
    one_client_then_stop = '''
        import threading

        def serve(listener):
            def talk(conn):
                while True:
                    number = conn.recv()
                    conn.send(number * number)
            conn = listener.accept()
            threading.Thread(target=talk, args=(conn,), daemon=True).start()
            conn2 = listener.accept()
            talk(conn2)
    '''
    result = ch14.serve.result(answer(one_client_then_stop, 'serve'))
    assert result.status == 'wrong'
    assert 'a third client (after the first had hung up) could not connect' in result.message


def test_one_call_per_item_is_told_to_batch():
    one_by_one = '''
        def put_batched(q, items, size):
            for item in items:
                q.put(item)

        def get_batched(q, count):
            return [q.get() for _ in range(count)]
    '''
    result = ch14.batched.result(answer(one_by_one, 'put_batched'), answer(one_by_one, 'get_batched'))
    assert result.status == 'wrong'
    assert result.message.startswith('put_batched(q, 1000 items, 64) made 1000 calls on the proxy')
    assert 'Put lists of items, not items.' in result.message


def test_a_reader_that_waits_for_a_batch_when_none_is_due_is_stopped():
    always_one_more = CH14['ch14-ex3-answer'].replace('    while len(got) < count:\n        got.extend(q.get())',
                                                      '    got.extend(q.get())\n'
                                                      '    while len(got) < count:\n        got.extend(q.get())')
    assert always_one_more != CH14['ch14-ex3-answer']
    result = ch14.batched.result(answer(always_one_more, 'put_batched'), answer(always_one_more, 'get_batched'))
    assert result.status == 'wrong'
    assert result.message.startswith('get_batched(q, 0) was still waiting after 10 seconds')

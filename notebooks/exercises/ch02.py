"""The exercises of chapter 2, pipes and connections (``notebooks/02_pipes_and_connections.ipynb``).

* 2.1 ``eof`` -- when does end of file come? (predict, then run; warm-up)
* 2.2 ``swap`` -- two big messages, crossing (break it, fix it; medium)
* 2.3 ``wire`` -- the wire format by hand (extend mpref; medium)
* 2.4 ``pipeline`` -- a pipeline of processes (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  Functions that children run (``_swap_side``, the stage
functions) are at the top level of this module, so a spawned child can
import them.
"""

import gc
import os
import pickle
import struct
import threading
import time

import mpref
from mpref import framing

from . import Exercise, Wrong
from .tools import contexts, exception_name, in_background, within


# -- 2.1: when does end of file come? ------------------------------------------------

#: The six steps of ``eof_program`` and why each gives what it gives.
EOF_STEPS = [
    ('r.poll(1)', 'the child sent two messages before it exited, so there is something to read'),
    ('r.recv()', 'messages come out of a pipe in the order they went in'),
    ('r.recv()', 'the second message is still there: the child exiting does not take it away'),
    ('r.poll(1)', 'both messages are read and the child has exited -- but the parent itself still holds '
                  'the write end `w`. A reader sees end of file only when every copy of the write end '
                  'is closed, in every process; until then more could come, so poll(1) waits its '
                  'second and answers False'),
    ('w.close(); r.poll(1)', 'now the last copy of the write end is closed: end of file counts as '
                             'something to read, so poll() answers True at once'),
    ('r.recv()', 'recv() at end of file raises EOFError; it neither blocks nor returns None'),
]


def _eof_trial(program):
    for number, ((call, _), result) in enumerate(zip(EOF_STEPS, program()), 1):
        print('step %d  %-22s -> %r' % (number, call, result))


def _eof_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(EOF_STEPS):
        raise Wrong('predict_eof() should return a list of %d results, one per step; it returned %r.'
                    % (len(EOF_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((call, why), guess, result) in enumerate(zip(EOF_STEPS, predicted, actual), 1):
        if _outcome(guess) != _outcome(result):
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, call, _outcome(guess), result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(EOF_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


def _outcome(value):
    """An exception class predicted for a step counts as its name: EOFError == 'EOFError'."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    return value


eof = Exercise('2.1', 'When does end of file come?', test=_eof_test, trial=_eof_trial, timeout=30)


# -- 2.2: two big messages, crossing ------------------------------------------------------

#: The message sizes the check swaps, in bytes.
SWAP_SIZES = (10, 1 << 20, 16 << 20)


def _swap_side(swap, conn, mine, theirs, size, report):
    """One end of the swap, in a child: send ``size`` bytes of ``mine``, expect as many of ``theirs``."""
    try:
        got = swap(conn, mine * size)
    except BaseException as exc:
        report.send(('raised', exception_name(exc)))
    else:
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
        if not isinstance(got, (bytes, bytearray)):
            report.send(('type', type(got).__name__))
        elif got != theirs * size:
            report.send(('data', len(got), bytes(got[:4])))
        elif threads:
            report.send(('threads', threads))
        else:
            report.send(('ok',))
    report.close()
    conn.close()


def _exchange(swap, api, size, patience):
    """Run ``swap`` at the two ends of one duplex pipe, in two processes of ``api`` (mpref or the stdlib).

    Returns each side's report, or ``None`` for a side still running after
    ``patience`` seconds (then killed), or ``('died', exitcode)``.
    """
    left, right = api.Pipe()
    reports, children = [], []
    for end, mine, theirs in ((left, b'L', b'R'), (right, b'R', b'L')):
        reader, writer = api.Pipe(duplex=False)
        child = api.Process(target=_swap_side, args=(swap, end, mine, theirs, size, writer))
        child.start()
        writer.close()
        reports.append(reader)
        children.append(child)
    left.close()
    right.close()
    deadline = time.monotonic() + patience
    results = []
    for reader, child in zip(reports, children):
        if not reader.poll(max(0, deadline - time.monotonic())):
            results.append(None)
            continue
        try:
            results.append(reader.recv())
        except EOFError:
            child.join(5)
            results.append(('died', child.exitcode))
    for reader, child in zip(reports, children):
        reader.close()
        child.join(max(0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join()
    return results


def _size(size):
    return '%d MiB' % (size >> 20) if size >= 1 << 20 else '%d KiB' % (size >> 10) if size >= 1024 \
        else '%d bytes' % size


def _swap_trial(swap):
    for size in (1 << 10, 4 << 20):
        reports = _exchange(swap, mpref.get_context('fork'), size, patience=3)
        if reports == [('ok',), ('ok',)]:
            print('%s each way: both sides received the other side\'s message.' % _size(size))
        elif None in reports:
            print('%s each way: after 3 seconds both sides were still running, so the trial stopped them.'
                  % _size(size))
        else:
            print('%s each way: %r' % (_size(size), reports))


def _swap_test(swap):
    for label, api in contexts():
        for size in SWAP_SIZES:
            reports = _exchange(swap, api, size, patience=10)
            what = 'With messages of %s each way, under %s' % (_size(size), label)
            for report in reports:
                if report is None:
                    raise Wrong('%s, swap() was still running after 10 seconds at both ends. Each side is '
                                'probably blocked in send_bytes(), waiting for the other to read -- and '
                                'neither reads until its own send is done. A socket pair holds a few '
                                'hundred KiB: make each side receive while it sends.' % what)
                if report[0] == 'raised':
                    raise Wrong('%s, swap() raised %s.' % (what, report[1]))
                if report[0] == 'died':
                    raise Wrong('%s, a process running swap() died with exit code %s.' % (what, report[1]))
                if report[0] == 'type':
                    raise Wrong('%s, swap() returned a %s; it should return the bytes the other side sent.'
                                % (what, report[1]))
                if report[0] == 'data':
                    raise Wrong('%s, one side got %d bytes starting %r instead of the other side\'s %d.'
                                % (what, report[1], report[2], size))
                if report[0] == 'threads':
                    raise Wrong('%s, swap() returned while a thread it started was still running (%s): '
                                'join it before returning, or the process may exit in the middle of a send.'
                                % (what, ', '.join(report[1])))
    return ('swap() exchanged messages of 10 bytes, 1 MiB and 16 MiB, both ways at once, under mpref '
            "with fork and with spawn, and under the stdlib's multiprocessing with fork.")


swap = Exercise('2.2', 'Two big messages, crossing', test=_swap_test, trial=_swap_trial, timeout=150)


# -- 2.3: the wire format by hand -----------------------------------------------------------

#: Payload sizes sent between the student's functions and real Connections.
WIRE_SIZES = (0, 1, 1000, 300_000)


def _connections():
    import multiprocessing.connection      # the yardstick: the same bytes on the wire
    return [('mpref', framing.Connection),
            ("the stdlib's multiprocessing", multiprocessing.connection.Connection)]


def _read_all(fd):
    data = b''
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def _wire_test(write_message, read_message):
    # 1. The exact bytes.
    r, w = os.pipe()
    within(5, 'write_message(fd, b"hello") did not return within 5 seconds.', write_message, w, b'hello')
    os.close(w)
    raw = _read_all(r)
    os.close(r)
    expected = struct.pack('!i', 5) + b'hello'
    if raw != expected:
        raise Wrong('write_message(fd, b"hello") wrote %s; a Connection expects %s: the length as a '
                    "4-byte big-endian signed integer (struct format '!i'), then the payload."
                    % (raw.hex(' ') or 'nothing', expected.hex(' ')))
    for label, Connection in _connections():
        for size in WIRE_SIZES:
            payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
            # 2. Your writer, their reader.
            r, w = os.pipe()
            theirs = Connection(r, writable=False)
            writer = in_background(_write_and_close, write_message, w, payload)
            try:
                got = within(10, '%s\'s recv_bytes() was still waiting after 10 seconds for a message of %d '
                              'bytes written by write_message().' % (label, size), theirs.recv_bytes)
            except Wrong:
                raise
            except Exception as exc:
                raise Wrong('%s\'s recv_bytes() could not read the %d-byte message write_message() wrote: '
                            '%s.' % (label, size, exception_name(exc)))
            finally:
                writer.join(5)
                theirs.close()
            if got != payload:
                raise Wrong('%s\'s recv_bytes() read %d bytes where write_message() sent %d.'
                            % (label, len(got), size))
            # 3. Their writer, your reader.
            r, w = os.pipe()
            theirs = Connection(w, readable=False)
            writer = in_background(theirs.send_bytes, payload)
            try:
                got = within(10, 'read_message() was still running after 10 seconds, reading a message of '
                              '%d bytes sent by %s\'s send_bytes().' % (size, label), read_message, r)
            finally:
                os.close(r)             # a writer still writing gets an error, not a hang
                writer.join(5)
                theirs.close()
            if got != payload:
                raise Wrong('read_message() returned %s where %s\'s send_bytes() sent %d bytes.%s'
                            % (_describe_bytes(got), label, size, _SHORT_READ if _shorter(got, size) else ''))
    # Objects travel as pickles.
    r, w = os.pipe()
    with framing.Connection(w, readable=False) as sender:
        sender.send({'answer': [42, None, 'hello']})
    got = within(5, 'read_message() did not return within 5 seconds.', read_message, r)
    os.close(r)
    if pickle.loads(got) != {'answer': [42, None, 'hello']}:
        raise Wrong('read_message() did not return the pickle that Connection.send() wrote.')
    # 4. A message that arrives in pieces.
    r, w = os.pipe()
    trickle = in_background(_trickle, w, struct.pack('!i', 10) + b'0123456789')
    got = within(10, 'read_message() did not return within 10 seconds for a 10-byte message arriving one '
                  'byte at a time.', read_message, r)
    trickle.join(5)
    os.close(r)
    if got != b'0123456789':
        raise Wrong('read_message() returned %s for the 10-byte message b"0123456789" arriving one byte at '
                    'a time.%s' % (_describe_bytes(got), _SHORT_READ))
    # 5. End of file: between messages, and inside one.
    for stream, expected_error, where in [
            (b'', EOFError, 'before any byte of a message (a clean end, where recv_bytes() says EOFError)'),
            (b'\x00\x00', OSError, 'after 2 bytes of a header'),
            (struct.pack('!i', 10) + b'abc', OSError, 'after the header and 3 of 10 payload bytes')]:
        r, w = os.pipe()
        os.write(w, stream)
        os.close(w)
        try:
            got = within(5, 'read_message() was still running 5 seconds after the stream ended %s: '
                          'os.read() returns b"" at end of file -- stop there.' % where, read_message, r)
        except Wrong:
            raise
        except expected_error:
            continue
        except Exception as exc:
            raise Wrong('when the stream ends %s, read_message() should raise %s; it raised %s.'
                        % (where, expected_error.__name__, exception_name(exc)))
        finally:
            os.close(r)
        raise Wrong('when the stream ends %s, read_message() should raise %s; it returned %s.'
                    % (where, expected_error.__name__, _describe_bytes(got)))
    return ("write_message() and read_message() speak Connection's wire format: messages of 0 to 300000 "
            "bytes went both ways between them and the Connections of mpref and of the stdlib, a message "
            "arriving one byte at a time was read whole, and end of file was EOFError between messages and "
            "OSError inside one.")


_SHORT_READ = (' os.read(fd, n) returns whatever has arrived, up to n bytes: read again until you have '
               'them all.')


def _shorter(got, size):
    return isinstance(got, (bytes, bytearray)) and len(got) < size


def _write_and_close(write_message, fd, payload):
    try:
        write_message(fd, payload)
    finally:
        os.close(fd)


def _trickle(fd, data):
    for byte in data:
        os.write(fd, bytes([byte]))
        time.sleep(0.005)
    os.close(fd)


def _describe_bytes(value):
    if isinstance(value, (bytes, bytearray)):
        return '%d bytes' % len(value) if len(value) > 12 else repr(bytes(value))
    return repr(value)


wire = Exercise('2.3', 'The wire format by hand', test=_wire_test, timeout=60)


# -- 2.4: a pipeline of processes -------------------------------------------------------------

def double(x):
    """A stage of the check's pipelines."""
    return 2 * x


def increment(x):
    """A stage of the check's pipelines."""
    return x + 1


def bracket(x):
    """A stage of the check's pipelines."""
    return '<%s>' % x


def same(x):
    """A stage of the check's pipelines: passes its item on unchanged."""
    return x


def _pipeline_test(pipeline):
    import multiprocessing      # the yardstick: an answer must work there too
    children = {'mpref': mpref.active_children, 'stdlib': multiprocessing.active_children}
    small = [(double, increment, bracket), list(range(20))]
    big = [(same, same), [bytes([i]) * 100_000 for i in range(40)]]
    for label, api in contexts():
        active = children['stdlib' if 'stdlib' in label else 'mpref']
        for (functions, items), patience, hint in [
                (small, 10, 'Usually a stage waits for an end of file that never comes: a reader sees '
                            'end of file only when every copy of the write end is closed -- in the parent '
                            'and, under fork, in every child that inherited one (exercise 2.1). Close the '
                            'ends each process does not use.'),
                (big, 15, 'It worked with small items: a pipe holds about 64 KiB, so the parent cannot '
                          'send everything before it starts receiving (exercise 2.2). Let another process '
                          '(or thread) send while the parent receives.')]:
            what = 'With %d stages and %d items of %s, under %s' % (
                len(functions), len(items), 'about 100 kB' if items is big[1] else 'a few bytes', label)
            fds = _open_descriptors()
            got = within(patience, '%s, pipeline() had not returned after %d seconds. %s'
                          % (what, patience, hint), pipeline, list(functions), list(items), api)
            expected = list(items)
            for function in functions:
                expected = [function(item) for item in expected]
            if got != expected:
                raise Wrong('%s, pipeline() returned %s; expected %s.'
                            % (what, _short(got), _short(expected)))
            running = active()
            if running:
                raise Wrong('%s, pipeline() returned while %d stage processes were still running: join '
                            'every process before returning.' % (what, len(running)))
            gc.collect()
            extra = _open_descriptors() - fds
            if extra > 0:
                raise Wrong('%s, the parent had %d more open file descriptors after pipeline() returned '
                            'than before: close every pipe end the parent holds once it is done with it.'
                            % (what, extra))
    return ('pipeline() ran 3 stages over 20 items and 2 stages over 40 items of 100 kB, under mpref with '
            "fork and with spawn and under the stdlib's multiprocessing with fork: the right results, every "
            'process joined, every pipe end closed.')


def _open_descriptors():
    """How many file descriptors this process has open (0 where /proc is missing)."""
    try:
        return len(os.listdir('/proc/self/fd'))
    except OSError:
        return 0


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


pipeline = Exercise('2.4', 'A pipeline of processes', test=_pipeline_test, timeout=240)

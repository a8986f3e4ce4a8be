"""The exercises of chapter 9, logging (``notebooks/09_logging.ipynb``).

* 9.1 ``levels`` -- which records are kept? (predict, then run; warm-up)
* 9.2 ``pieces`` -- records written in pieces (break it, fix it; medium)
* 9.3 ``scratch`` -- a folder that goes away with its process (extend mpref; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  ``write_records``, which the children of 9.2 run, is at the
top level of this module, so a spawned child can import it.
"""

import logging
import os
import re
import tempfile

import mpref
from mpref.targets.logs import PiecemealHandler

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


# -- 9.1: which records are kept? ------------------------------------------------------

#: The messages ``levels_program`` logs, and why each is kept or not.
LEVEL_STEPS = [
    ('one', 'logged with info() while the level is SUBWARNING (25): INFO is 20, below the level, '
            'so the logger drops it before any handler sees it'),
    ('two', 'logged at SUBWARNING itself: a record at the logger\'s level passes'),
    ('three', 'WARNING (30) is above SUBWARNING: it passes'),
    ('four', 'the forked child logged it -- to its own copy of the logger, the handler and the '
             'list. The parent\'s list never sees it: a child\'s records reach the parent only '
             'through something the two share (a stream, a queue)'),
    ('six', 'DEBUG (10) is above SUBDEBUG (5), the level by then: it passes'),
]


def _levels_trial(program):
    kept = program()
    for word, _ in LEVEL_STEPS:
        print('%-5s -> %s' % (word, 'kept' if word in kept else 'not kept'))


def _levels_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple, set)) or not all(isinstance(w, str) for w in predicted):
        raise Wrong('predict_kept() should return a list of the messages (strings such as \'one\') '
                    'that end up in the list; it returned %r.' % (predicted,))
    kept = program()
    mistakes = []
    for word, why in LEVEL_STEPS:
        if (word in predicted) != (word in kept):
            mistakes.append('%r: you predicted it %s, the run %s it -- %s.'
                            % (word, 'kept' if word in predicted else 'dropped',
                               'kept' if word in kept else 'dropped', why))
    unknown = sorted(set(predicted) - {word for word, _ in LEVEL_STEPS})
    if unknown:
        mistakes.append('%s: the program logs no such message.' % ', '.join(map(repr, unknown)))
    if mistakes:
        raise Wrong('%d of your predictions differ from the run:\n' % len(mistakes) + '\n'.join(mistakes))
    return 'your prediction matches the run, message by message.'


levels = Exercise('9.1', 'Which records are kept?', test=_levels_test, trial=_levels_trial, timeout=30)


# -- 9.2: records written in pieces ------------------------------------------------------

#: A whole line of ``write_records``: the writer's pid, then the message.
WHOLE = re.compile(r'^(\d+) record (\d+) of (\d+): the quick brown fox jumps over the lazy dog$')


def write_records(path, count, shared_lock=None):
    """In a child: log ``count`` records to the file at ``path``, each written in pieces.

    The handler (``mpref.targets.logs.PiecemealHandler``) writes a record 8 bytes
    at a time with a short pause after each piece; with ``shared_lock`` it holds
    that lock for each whole record.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    logger = logging.getLogger('ch09.records')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = PiecemealHandler(fd, shared_lock)
    handler.setFormatter(logging.Formatter('%(process)d %(message)s'))
    logger.addHandler(handler)
    try:
        for number in range(count):
            logger.info('record %d of %d: the quick brown fox jumps over the lazy dog', number + 1, count)
    finally:
        logger.removeHandler(handler)
        os.close(fd)


def _read_lines(log_from_children, ctx, children, count):
    """Run the answer once with a fresh file; return the file's lines."""
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, 'log.txt')
    try:
        within(60, 'log_from_children() was still running after 60 seconds: does every child end, and '
                   'is every lock it takes released?', log_from_children, ctx, path, children, count)
        if not os.path.exists(path):
            return []
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace').splitlines()
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(folder)


def _problems(lines, children, count):
    """What is wrong with the lines of one run, in words; or None."""
    broken = [line for line in lines if not WHOLE.match(line)]
    if broken:
        example = broken[0] if len(broken[0]) <= 90 else broken[0][:87] + '...'
        return ('%d of the %d lines were not whole records, for example %r: another process wrote in '
                'the middle of a record' % (len(broken), len(lines), example))
    if len(lines) != children * count:
        return 'the file has %d records, not %d (%d children x %d)' % (len(lines), children * count,
                                                                        children, count)
    writers = {}
    for line in lines:
        pid, number, _ = WHOLE.match(line).groups()
        writers.setdefault(pid, []).append(int(number))
    if len(writers) != children or any(numbers != list(range(1, count + 1)) for numbers in writers.values()):
        return ('the records came from %d processes, not %d, or not each in order 1 to %d'
                % (len(writers), children, count))
    return None


def _pieces_trial(broken):
    runs = [_read_lines(broken, mpref.get_context('fork'), 3, 10) for _ in range(3)]
    mixed = [bool(_problems(lines, 3, 10)) for lines in runs]
    print('3 runs of 3 children x 10 records, under mpref with fork.')
    print('Some lines were not whole records in at least one run: %s' % any(mixed))


def _pieces_test(log_from_children):
    for label, ctx in contexts():
        for run in range(2):
            problem = _problems(_read_lines(log_from_children, ctx, 3, 10), 3, 10)
            if problem:
                raise Wrong('With 3 children logging 10 records each, under %s (run %d), %s. Every '
                            'process must hold the same lock for the whole of a record: make one with '
                            'ctx.Lock() in the parent and give it to each child '
                            '(write_records takes it as shared_lock).' % (label, run + 1, problem))
    return ('3 children logged 10 records each, twice, under mpref with fork and with spawn and under '
            "the stdlib's multiprocessing with fork: every record whole, each child's in order.")


pieces = Exercise('9.2', 'Records written in pieces', test=_pieces_test, trial=_pieces_trial, timeout=150,
                  on_timeout='Does every child end, and is every lock it takes released?')


# -- 9.3: a folder that goes away with its process -----------------------------------------

def _use_scratch(scratch_folder, report):
    """In a child: make two scratch folders, report them, and exit normally."""
    try:
        first = scratch_folder()
        second = scratch_folder()
    except Exception as exc:
        report.send(('raised', exception_name(exc)))
    else:
        report.send((first, second, isinstance(first, str) and os.path.isdir(first),
                     isinstance(second, str) and os.path.isdir(second)))
    report.close()


def _scratch_test(scratch_folder):
    for label, ctx in contexts(stdlib=False):
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_use_scratch, args=(scratch_folder, writer))
        child.start()
        writer.close()
        if not reader.poll(30):
            raise Wrong('Under %s, a child calling scratch_folder() twice sent nothing back within 30 '
                        'seconds.' % label)
        try:
            sent = reader.recv()
        except EOFError:
            child.join(10)
            raise Wrong('Under %s, the child calling scratch_folder() died (exit code %s): see what it '
                        'printed.' % (label, child.exitcode)) from None
        reader.close()
        child.join(30)
        what = 'Under %s, in a child that called scratch_folder() twice' % label
        if sent[0] == 'raised':
            raise Wrong('%s, scratch_folder() raised %s.' % (what, sent[1]))
        first, second, first_there, second_there = sent
        if not (isinstance(first, str) and first_there and isinstance(second, str) and second_there):
            raise Wrong('%s, it returned %r and %r: it should return the path of a folder that exists.'
                        % (what, first, second))
        if first == second:
            raise Wrong('%s, both calls returned %r: each call makes a folder of its own.' % (what, first))
        left = [path for path in (first, second) if os.path.exists(path)]
        for path in left:
            import shutil
            shutil.rmtree(path, ignore_errors=True)
        if left:
            raise Wrong('%s, %d of the two folders still existed after the child exited normally. A '
                        'forked child leaves with os._exit, so atexit handlers never run in it: register '
                        'the removal with mpref.util.Finalize(None, ..., exitpriority=...), which the '
                        'child runs as it exits.' % (what, len(left)))
    here = scratch_folder()
    mpref.util.run_finalizers()         # what this process runs as it exits
    if os.path.exists(here):
        raise Wrong('scratch_folder() called in a process that then ran its finalizers '
                    '(util.run_finalizers()) left its folder: give the Finalize an exitpriority, or it '
                    'runs only when its object is collected.')
    return ('each call made a new folder, and the folders were gone once the process exited, under '
            'mpref with fork and with spawn.')


scratch = Exercise('9.3', 'A folder that goes away with its process', test=_scratch_test, timeout=90)

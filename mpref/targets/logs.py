"""Logging programs for ``notebooks/09_logging.ipynb`` and ``tests/test_logging.py``.

A child's log records go to *its* stderr, at the moment it writes them; in a
notebook they would arrive late or not at all (a spawned child's descriptor 2
is not the cell's).  So each program here runs as a real script,
``python -m mpref.targets.logs PROGRAM ARGS...``, and ``run()`` returns the
lines it wrote to stderr, all of them, once it has ended::

    session LEVEL [METHOD]      the spec's session (16.6.2.12): doomed, a Manager, del m
    child METHOD LEVEL          one child, started with METHOD, logs a line
    mixed METHOD N COUNT        N children each log COUNT records to the shared stderr
    queue METHOD N COUNT        the same, but through a queue to one writer (the parent)
    piecemeal METHOD N COUNT LOCK   N children log COUNT records each, every record
                                written in small pieces (``PiecemealHandler``); LOCK is
                                ``locked`` (one ``mpref.Lock`` held per record) or ``unlocked``

``LEVEL`` is a level name (``INFO``, ``SUBDEBUG``...), ``METHOD`` is ``fork``
or ``spawn``.
"""

import logging
import logging.handlers
import os
import re
import subprocess
import sys
import time

import mpref

__all__ = ['run', 'tidy', 'say', 'say_many', 'say_through_queue', 'PiecemealHandler',
           'say_in_pieces', 'RECORD_LINE']


def run(*args, timeout=60):
    """Run ``python -m mpref.targets.logs *args``; return its stderr as a list of lines.

    Raises ``subprocess.CalledProcessError`` (with the stderr) if the script fails.
    """
    env = dict(os.environ, PYTHON_COLORS='0')       # no colour codes in tracebacks (3.13)
    completed = subprocess.run(
        [sys.executable, '-m', 'mpref.targets.logs', *[str(a) for a in args]],
        capture_output=True, text=True, timeout=timeout, env=env)
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(completed.returncode, completed.args,
                                            completed.stdout, completed.stderr)
    return completed.stderr.splitlines()


def tidy(line, width=100):
    """One log line with what varies from run to run replaced, and cut like the spec's.

    Temporary paths become ``/TMP/...``, addresses ``0x...``; a line longer
    than ``width`` characters ends in ``...`` (the spec cuts long lines the
    same way, and the cut keeps a manager's authkey off the page).
    """
    line = re.sub(r'/tmp/[^\s\'",)]*', '/TMP/...', line)
    line = re.sub(r'0x[0-9a-f]+', '0x...', line)
    if len(line) > width:
        line = line[:width].rsplit(' ', 1)[0] + ' ...'
    return line


# --------------------------------------------------------------------------
# What the children run
# --------------------------------------------------------------------------

def say(message):
    """Log ``message`` at INFO on mpref's logger."""
    mpref.get_logger().info(message)


def say_many(count):
    """Log ``count`` numbered records at INFO."""
    logger = mpref.get_logger()
    for number in range(count):
        logger.info('record %d of %d', number + 1, count)


def say_through_queue(queue, count):
    """Log ``count`` records, sent through ``queue`` instead of written.

    The child's logger gets a ``QueueHandler`` in place of whatever it
    inherited, so only the process at the other end of the queue writes.
    """
    logger = mpref.get_logger()
    inherited = list(logger.handlers)
    for handler in inherited:
        logger.removeHandler(handler)
    through = logging.handlers.QueueHandler(queue)
    logger.addHandler(through)
    try:
        say_many(count)
    finally:
        # The process's own last records (shutting down...) are not the lesson.
        logger.removeHandler(through)
        for handler in inherited:
            logger.addHandler(handler)


class PiecemealHandler(logging.Handler):
    """Write each record to the file descriptor ``fd`` in pieces of ``piece``
    bytes, pausing ``pause`` seconds after each, as a slow or small-buffered
    stream would.  This widens, on purpose, the race the spec warns about: a
    record is no longer one ``write()``, so another process can write in the
    middle of it.

    ``shared_lock`` (an ``mpref.Lock`` every writing process holds a copy of)
    is held for a whole record when given.  ``logging.Handler``'s own lock
    only keeps out the other *threads* of this process.
    """

    def __init__(self, fd=2, shared_lock=None, piece=8, pause=0.0005):
        super().__init__()
        self.fd = fd
        self.shared_lock = shared_lock
        self.piece = piece
        self.pause = pause
        self.setFormatter(logging.Formatter(mpref.util.DEFAULT_LOGGING_FORMAT))

    def emit(self, record):
        data = (self.format(record) + '\n').encode()
        if self.shared_lock is None:
            self.write_in_pieces(data)
        else:
            with self.shared_lock:
                self.write_in_pieces(data)

    def write_in_pieces(self, data):
        for start in range(0, len(data), self.piece):
            os.write(self.fd, data[start:start + self.piece])
            time.sleep(self.pause)


#: What a whole line of ``say_in_pieces`` looks like.
RECORD_LINE = re.compile(r'^\[INFO/[\w-]+\] record \d+ of \d+: the quick brown fox jumps over the lazy dog$')


def say_in_pieces(count, shared_lock=None):
    """Log ``count`` records at INFO through a ``PiecemealHandler`` on stderr
    (in place of any handler inherited), holding ``shared_lock`` per record if given."""
    logger = mpref.get_logger()
    inherited = list(logger.handlers)
    for handler in inherited:
        logger.removeHandler(handler)
    handler = PiecemealHandler(2, shared_lock)
    logger.addHandler(handler)
    try:
        for number in range(count):
            logger.info('record %d of %d: the quick brown fox jumps over the lazy dog', number + 1, count)
    finally:
        logger.removeHandler(handler)
        for handler in inherited:
            logger.addHandler(handler)


# --------------------------------------------------------------------------
# The programs
# --------------------------------------------------------------------------

def session(level, method='fork'):
    """The spec's session: ``doomed``, then a manager (its server started with
    ``method``) started and dropped."""
    logger = mpref.log_to_stderr()
    logger.setLevel(level)
    logger.warning('doomed')
    m = mpref.get_context(method).Manager()
    del m


def child(method, level):
    """One child, started with ``method``, logs a line; the parent set up the logger."""
    mpref.log_to_stderr(level)
    p = mpref.get_context(method).Process(target=say, args=('hello from the child',))
    p.start()
    p.join()


def mixed(method, children, count):
    """``children`` children log ``count`` records each, all to the one stderr."""
    mpref.log_to_stderr(logging.INFO)
    Process = mpref.get_context(method).Process
    processes = [Process(target=say_many, args=(count,)) for _ in range(children)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()


def through_queue(method, children, count):
    """As ``mixed``, but the children's records travel through a queue to the parent,
    whose listener thread is the only writer."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(mpref.util.DEFAULT_LOGGING_FORMAT))
    mpref.get_logger().setLevel(logging.INFO)
    queue = mpref.Queue()
    listener = logging.handlers.QueueListener(queue, handler)
    listener.start()
    Process = mpref.get_context(method).Process
    processes = [Process(target=say_through_queue, args=(queue, count))
                 for _ in range(children)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    listener.stop()             # its last put (the stop sentinel) starts our feeder thread:
    queue.close()               # flush it and wait for it before the interpreter ends
    queue.join_thread()


def piecemeal(method, children, count, locked):
    """``children`` children log ``count`` records each to the one stderr, each
    record written in pieces; with ``locked``, one ``mpref.Lock`` shared by all
    of them is held for each record."""
    mpref.get_logger().setLevel(logging.INFO)
    ctx = mpref.get_context(method)
    shared_lock = ctx.Lock() if locked else None
    processes = [ctx.Process(target=say_in_pieces, args=(count, shared_lock)) for _ in range(children)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()


def main(argv):
    program, *args = argv
    if program == 'session':
        session(logging.getLevelName(args[0]), *args[1:])
    elif program == 'child':
        child(args[0], logging.getLevelName(args[1]))
    elif program == 'mixed':
        mixed(args[0], int(args[1]), int(args[2]))
    elif program == 'queue':
        through_queue(args[0], int(args[1]), int(args[2]))
    elif program == 'piecemeal':
        piecemeal(args[0], int(args[1]), int(args[2]), args[3] == 'locked')
    else:
        raise SystemExit('unknown program %r: see the docstring of %s' % (program, __name__))


if __name__ == '__main__':
    mpref.get_logger()          # registers the level names SUBDEBUG and SUBWARNING
    main(sys.argv[1:])

"""What the children of chapter 0 run: the spec's introduction (16.6.1), re-created.

Chapter: ``notebooks/00_introduction.ipynb``.  The spec's examples print in
the child; here the children send what they would print back through the
queue, pipe or shared object of the example, and the parent prints (a
spawned child's output does not reach a notebook cell).  ``run_script`` runs
a whole program in a new interpreter, for the examples that are programs.
"""

import os
import subprocess
import sys
import tempfile
import textwrap


def put_list(q):
    """16.6.1.2, queues: put a small list on the queue."""
    q.put([42, None, 'hello'])


def send_list(conn):
    """16.6.1.2, pipes: send a small list down the pipe and close this end."""
    conn.send([42, None, 'hello'])
    conn.close()


def negate(n, a):
    """16.6.1.4, shared memory: set a shared double, negate a shared int array in place."""
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]


def fill(d, lst):
    """16.6.1.4, server process: store three items in a dict proxy, reverse a list proxy."""
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    lst.reverse()


def square(x):
    """16.6.1.5, the pool's task."""
    return x * x


def run_script(source, *argv, interactive=False, timeout=60):
    """Run the program ``source`` (dedented) in a new interpreter; return the ``CompletedProcess``.

    The program is a file ``program.py`` in a temporary directory, run with
    ``argv``; with ``interactive=True`` it is given with ``python -c``
    instead, whose ``__main__`` (like an interactive session's) no child can
    import.  stdout and stderr are captured as text.  The program runs in a
    session of its own: if it is still running after ``timeout`` seconds, it
    and every process it started are killed and ``subprocess.TimeoutExpired``
    is raised.  The directory is removed either way.  ``PYTHON_COLORS=0``: a
    Jupyter kernel sets ``FORCE_COLOR``, which would make Python >= 3.13
    colour the program's tracebacks.
    """
    source = textwrap.dedent(source)
    env = dict(os.environ, PYTHON_COLORS='0')
    with tempfile.TemporaryDirectory(prefix='script-') as folder:
        if interactive:
            command = [sys.executable, '-c', source, *argv]
        else:
            path = os.path.join(folder, 'program.py')
            with open(path, 'w') as f:
                f.write(source)
            command = [sys.executable, path, *argv]
        with subprocess.Popen(command, cwd=folder, env=env, text=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True) as program:
            try:
                stdout, stderr = program.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(program.pid, 9)
                program.communicate()
                raise
        return subprocess.CompletedProcess(command, program.returncode, stdout, stderr)

"""Running a whole program in a new interpreter: the spec's examples that are programs.

Chapter: ``notebooks/00_introduction.ipynb`` (and ``notebooks/11_programming_guidelines.ipynb``,
``tests/test_guidelines.py``).  Some of the spec's introduction (16.6.1) is about
programs, not calls -- the ``if __name__ == '__main__'`` guard, what a child
prints -- so ``run_script`` runs one as a script and captures all it wrote.  The
introduction's other examples hand their children the spec's task functions,
``mpref/targets/tasks.py``: they send what they would print back through the
queue, pipe or shared object of the example, and the parent prints (a spawned
child's output does not reach a notebook cell).
"""

import os
import subprocess
import sys
import tempfile
import textwrap


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

"""Every chapter runs under nbval as a student runs it (a pytest plugin; ``docs/rules.md``).

A student runs a chapter in JupyterLab: a kernel whose file descriptors 1 and 2 are
captured, so that whatever a child process writes there -- a spawned child's
``print``, a traceback a child prints as its interpreter shuts down, a warning --
shows up under the cell that was running.  Under plain ``pytest --nbval`` two things
hide that output:

* ipykernel turns its descriptor capture off when ``PYTEST_CURRENT_TEST`` is in the
  kernel's environment (``ipykernel/iostream.py``), and nbval starts its kernel while
  pytest has set that variable (with the kernel's own stderr going to ``/dev/null``);
* output that reaches the kernel after a cell has finished is tagged with that cell,
  arrives after nbval stopped listening for it, and nbval drops it unseen.

This plugin, loaded by ``pyproject.toml``'s ``addopts`` (``-p tests.student_run``),
makes the one nbval run also the student's run:

1. nbval's kernel starts without ``PYTEST_CURRENT_TEST``: descriptor capture is on,
   as in JupyterLab, and nbval compares every stream, ``stderr`` included, with the
   stored one (a ``stderr`` output the stored cell lacks fails the cell).
2. A cell whose output is not compared (tag ``nbval-ignore-output``) still fails if it
   writes to ``stderr`` or raises and its stored version does not.
3. Output that arrives late -- tagged with a cell that has already finished -- fails
   the cell during which it arrived, naming the cell it belongs to; after a chapter's
   last cell the plugin listens for ``GRACE_SECONDS`` more before the kernel stops.

``tests/test_student_run.py`` runs small notebooks through it and checks that it fails
on a spawned child's exit traceback, on late output and on a warning, and passes a
clean chapter.
"""

import os
import time
from queue import Empty

import pytest

#: How long to keep listening for late output after a chapter's last cell.
GRACE_SECONDS = 1.0

#: The kernel's environment variable that turns ipykernel's descriptor capture off.
PYTEST_VARIABLE = 'PYTEST_CURRENT_TEST'


def pytest_configure(config):
    if not (config.getoption('nbval', False) or config.getoption('nbval_lax', False)):
        return
    from nbval import kernel, plugin
    if getattr(kernel, 'student_run', False):
        return                  # patched already (pytest run twice in one process)
    kernel.student_run = True
    kernel.start_new_kernel = _without_pytest_variable(kernel.start_new_kernel)
    kernel.RunningKernel.execute_cell_input = _remembering_cells(kernel.RunningKernel.execute_cell_input)
    plugin.IPyNbFile.get_kernel_message = _noting_late_output(plugin.IPyNbFile.get_kernel_message)


class Watch:
    """What the plugin knows about one chapter's kernel."""

    def __init__(self):
        self.cell = None        # the cell being run (nbval's name, "Cell 3")
        self.request = None     # the kernel's id for the request that runs it
        self.cells = {}         # request id -> cell name
        self.late = []          # iopub output messages of cells that had finished

    def take_late_output(self):
        late, self.late = self.late, []
        return [self.describe(msg) for msg in late]

    def describe(self, msg):
        """A line saying what a late message is and which cell it belongs to."""
        cell = self.cells.get(msg['parent_header'].get('msg_id'), 'an unknown cell')
        content = msg['content']
        if msg['msg_type'] == 'stream':
            what, text = 'text on %s' % content['name'], content['text']
        elif msg['msg_type'] == 'error':
            what, text = 'an exception', '%s: %s' % (content['ename'], content['evalue'])
        else:
            what, text = 'a display', str(content.get('data', {}).get('text/plain', ''))
        return '%s printed %s after it had finished: %r' % (cell, what, text[:2000])


def watch(kernel):
    """The ``Watch`` of an nbval ``RunningKernel``."""
    if not hasattr(kernel, 'student_watch'):
        kernel.student_watch = Watch()
    return kernel.student_watch


def _without_pytest_variable(start_new_kernel):
    """nbval's kernel start, in an environment without ``PYTEST_CURRENT_TEST``."""
    def start_student_kernel(*args, **kwargs):
        env = dict(kwargs.pop('env', None) or os.environ)
        env.pop(PYTEST_VARIABLE, None)
        return start_new_kernel(*args, env=env, **kwargs)
    return start_student_kernel


def _remembering_cells(execute_cell_input):
    """``RunningKernel.execute_cell_input`` that notes which request runs which cell."""
    def execute(kernel, source, *args, **kwargs):
        request = execute_cell_input(kernel, source, *args, **kwargs)
        watching = watch(kernel)
        watching.request = request
        watching.cells[request] = watching.cell
        return request
    return execute


def _noting_late_output(get_kernel_message):
    """``IPyNbFile.get_kernel_message`` that keeps the output nbval is about to drop.

    nbval skips every iopub message that does not belong to the cell it is running;
    output among them (a stream, an error, a display) belongs to a cell that had
    already finished: it is kept in the kernel's ``Watch``.
    """
    def get_message(notebook, timeout=None, stream='iopub'):
        msg = get_kernel_message(notebook, timeout=timeout, stream=stream)
        watching = watch(notebook.kernel)
        if (stream == 'iopub' and msg['parent_header'].get('msg_id') != watching.request
                and msg['msg_type'] in ('stream', 'error', 'display_data', 'execute_result')):
            watching.late.append(msg)
        return msg
    return get_message


def _is_notebook_cell(item):
    from nbval.plugin import IPyNbCell
    return isinstance(item, IPyNbCell)


def _stderr(outputs):
    return ''.join(out.get('text', '') for out in outputs
                   if out.get('output_type') == 'stream' and out.get('name') == 'stderr')


def unexpected_stderr(item):
    """What a cell wrote to stderr when its stored version has no stderr at all ('' if nothing)."""
    if _stderr(item.cell.get('outputs', [])):
        return ''               # stored stderr: nbval compares it, sanitized, in a compared cell
    return _stderr(getattr(item, 'test_outputs', None) or [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _is_notebook_cell(item):
        return (yield)
    watch(item.parent.kernel).cell = item.name
    try:
        result = yield
    except BaseException:
        # nbval's own report says only "Unexpected output fields: {'stderr'}": show the text.
        if unexpected_stderr(item):
            item.add_report_section('call', 'stderr the stored cell lacks', unexpected_stderr(item))
        raise
    problems = watch(item.parent.kernel).take_late_output()
    if not item.options['check'] and unexpected_stderr(item):
        problems.append('the cell wrote to stderr, which its stored version does not: %r'
                        % unexpected_stderr(item)[:2000])
    if problems:
        pytest.fail('run as a student runs it, the chapter shows output its stored '
                    'version lacks:\n' + '\n'.join(problems), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    problems = []
    last_cell = nextitem is None or nextitem.parent is not item.parent
    kernel = getattr(item.parent, 'kernel', None) if _is_notebook_cell(item) else None
    if last_cell and kernel is not None and kernel.is_alive():
        problems = _listen_for_late_output(item.parent, kernel)
    result = yield                      # nbval stops the kernel here, whatever we found
    if problems:
        pytest.fail('after its last cell, the chapter shows output its stored version '
                    'lacks:\n' + '\n'.join(problems), pytrace=False)
    return result


def _listen_for_late_output(notebook, kernel):
    watching = watch(kernel)
    watching.request = None             # every output from now on is late
    deadline = time.monotonic() + GRACE_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            notebook.get_kernel_message(timeout=left)
        except Empty:
            break
    return watching.take_late_output()

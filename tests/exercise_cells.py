"""What the tests of the chapters' exercises share: a chapter's cells by nbgrader grade id,
and an answer made from a cell's source as a check receives it."""

import json
import pathlib
import textwrap

from notebooks.exercises import Answer, sandbox

ROOT = pathlib.Path(__file__).resolve().parent.parent


def answer(source, name='answer'):
    """An ``Answer`` as a check gets it from a cell: the cell's imports and definitions."""
    source, left_out = sandbox.cell_definitions(textwrap.dedent(source))
    return Answer(name=name, source=source, left_out=left_out)


def chapter_cells(name):
    """The cells of the chapter ``notebooks/<name>``, by nbgrader grade_id."""
    chapter = json.loads((ROOT / 'notebooks' / name).read_text(encoding='utf-8'))
    return {cell['metadata']['nbgrader']['grade_id']: ''.join(cell['source'])
            for cell in chapter['cells'] if 'nbgrader' in cell['metadata']}


def edited_answer(cells, grade_id, name, *replacements):
    """The answer in cell ``grade_id`` of ``cells`` (from ``chapter_cells``), with each
    ``(old, new)`` of ``replacements`` made in its source first (each ``old`` must be there)."""
    source = cells[grade_id]
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    return answer(source, name)

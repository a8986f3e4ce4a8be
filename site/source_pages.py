"""A Sphinx extension: a page for each source file the chapters cite, and a download of each chapter.

The chapters link to the code they talk about with plain relative links
(``[`mpref/queues.py`](../mpref/queues.py)``), which JupyterLab and a code host
follow to the file itself.  On the site the same link must reach a page, so every
file in ``SOURCE_FILES`` becomes one: its path as the title, a download link for the
file, and the whole text, highlighted, with line numbers.  (Sphinx's own
``viewcode`` makes such pages only for objects that ``autodoc`` documents; the
chapters cite whole files.)  MyST resolves a link to ``../mpref/queues.py`` to the
page ``mpref/queues`` because ``.py`` is then a source suffix of the site.

Each chapter page also gets, under its title, a link that downloads the chapter's
``.ipynb`` (outputs included), to open in JupyterLab.
"""

import pathlib

from docutils import nodes
from docutils.parsers import Parser
from sphinx import addnodes

#: The files that get a page, as Sphinx include patterns (relative to the repository root).
SOURCE_FILES = ['mpref/**.py', 'lab/*.py', 'notebooks/measured.py', 'tests/*.py', 'tests/nbval_sanitize.cfg', 'pyproject.toml']

#: File suffix -> Pygments lexer.
LEXERS = {'.py': 'python', '.cfg': 'ini', '.toml': 'toml'}

FILE_TYPE = 'source-file'


class SourceFileParser(Parser):
    """Reads a source file as a page: title, download link, highlighted text."""

    supported = (FILE_TYPE,)

    def parse(self, inputstring, document):
        env = document.settings.env
        path = pathlib.PurePosixPath(env.doc2path(env.docname, False))
        section = nodes.section(ids=[nodes.make_id(str(path))], names=[str(path)])
        section += nodes.title(text=str(path))
        download = addnodes.download_reference(
            '', '', nodes.literal(text=path.name), refdoc=env.docname, reftarget=path.name,
            refexplicit=True, reftype='download', refdomain=None)
        section += nodes.paragraph('', '', nodes.Text('The file as it is in the repository ('),
                                   download, nodes.Text(' to download it).'))
        code = nodes.literal_block(inputstring, inputstring, language=LEXERS[path.suffix],
                                   linenos=True)
        section += code
        document += section


def add_chapter_download(app, doctree):
    """Under a chapter's title, a link that downloads its ``.ipynb``."""
    docname = app.env.docname
    if not docname.startswith('notebooks/'):
        return
    name = pathlib.PurePosixPath(app.env.doc2path(docname, False)).name
    title = next(iter(doctree.findall(nodes.title)), None)
    if title is None:
        return
    download = addnodes.download_reference(
        '', '', nodes.literal(text=name), refdoc=docname, reftarget=name,
        refexplicit=True, reftype='download', refdomain=None)
    note = nodes.paragraph('', '', nodes.Text('Download this chapter: '), download,
                           nodes.Text(' (with its outputs; open it in JupyterLab to run it).'),
                           classes=['chapter-download'])
    title.parent.insert(title.parent.index(title) + 1, note)


def setup(app):
    app.add_source_suffix('.py', FILE_TYPE)
    app.add_source_suffix('.cfg', FILE_TYPE)
    app.add_source_suffix('.toml', FILE_TYPE)
    app.add_source_parser(SourceFileParser)
    # Before Sphinx's download collector (priority 500) reads the download links.
    app.connect('doctree-read', add_chapter_download, priority=400)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}

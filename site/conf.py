"""Sphinx configuration of the course site: the chapters and the reading guide as static HTML.

Build it from the repository root (the README has the one command):

    sphinx-build -W --keep-going -b html -c site . build/site

The source folder is the repository root, so that ``docs/*.md`` and
``notebooks/*.ipynb`` are pages where they are and every relative link between
them works as it does on GitHub; this folder holds only the configuration and
the front page (``site/index.md``).  The chapters are shown with the outputs
stored in them: they are not run again (``nb_execution_mode = 'off'``);
``pytest --nbval`` is what checks that the stored outputs are still true.
"""

project = 'mpref'
author = 'the mpref authors'
copyright = 'the mpref authors'

extensions = ['myst_nb']

# Pages: the front page, the README, the reading guide and the chapters.
root_doc = 'site/index'
include_patterns = ['site/index.md', 'README.md', 'docs/*.md', 'notebooks/*.ipynb']
exclude_patterns = ['.git', '.venv*', 'build', '**/.ipynb_checkpoints', 'mpref', 'tests']

# Chapters as committed, outputs included; never executed here.
nb_execution_mode = 'off'

# `[text](README.md#the-layering-rule)`: anchors for headings, as GitHub makes them.
myst_heading_anchors = 3

html_theme = 'furo'
html_title = 'mpref — multiprocessing, readable'
html_show_sourcelink = False
html_copy_source = False
# The front page is site/index.html; build/site/index.html sends the browser there.
html_extra_path = ['extra']

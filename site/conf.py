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

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))     # site/source_pages.py

from source_pages import SOURCE_FILES  # noqa: E402

project = 'mpref'
author = 'the mpref authors'
copyright = 'the mpref authors'

# source_pages: a page for every source file the chapters link to, and each chapter's
# .ipynb offered for download (site/source_pages.py).
extensions = ['myst_nb', 'source_pages']

# Pages: the front page, the README, the reading guide, the chapters and the source files.
root_doc = 'site/index'
include_patterns = ['site/*.md', 'README.md', 'docs/*.md', 'notebooks/*.ipynb'] + SOURCE_FILES
exclude_patterns = ['.git', '.venv*', 'build', '**/.ipynb_checkpoints', '**/__pycache__']

# Chapters as committed, outputs included; never executed here.
nb_execution_mode = 'off'

# `[text](README.md#the-layering-rule)`: anchors for headings, as GitHub makes them.
myst_heading_anchors = 3

html_theme = 'furo'
# A wider layout for the chapters' code, outputs and tables (site/static/course.css).
html_static_path = ['static']
html_css_files = ['course.css']
html_title = 'mpref — multiprocessing, readable'
html_show_sourcelink = False
html_copy_source = False
# The front page is site/index.html; build/site/index.html sends the browser there.
html_extra_path = ['extra']

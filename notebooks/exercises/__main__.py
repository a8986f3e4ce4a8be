"""``python -m notebooks.exercises [FOLDER]``: write the student edition (see ``edition.py``)."""

import sys

from .edition import main

main(sys.argv[1:])

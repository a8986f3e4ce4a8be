"""JupyterLab's settings for the course (the README's course command passes this file).

* The repository is the root of JupyterLab's file browser, wherever the command is run
  from: the chapters ask you to open `mpref/` and `docs/`, beside `notebooks/`.
* What an install leaves in the repository (`mpref.egg-info/`, from `pip install -e`) and
  Python's caches are not listed: they are not part of the course.
"""

import pathlib

c = get_config()  # noqa: F821 -- defined by Jupyter when it reads this file

c.ServerApp.root_dir = str(pathlib.Path(__file__).resolve().parent)
c.ContentsManager.hide_globs = ['__pycache__', '*.pyc', '*.pyo', '.DS_Store', '*~', '*.egg-info']

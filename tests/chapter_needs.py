"""A chapter cell that needs what this machine lacks is skipped under nbval, saying why.

Chapter 14 needs more than Python: its first half makes network namespaces (Linux, root
and iproute2's ``ip``), its second half runs Ray (the ``cluster`` extra).  Each cell that
needs one of them carries a cell tag (metadata, not code a student reads):

* ``needs-network-namespaces`` -- skipped where ``lab.netns.unavailable_reason()`` says why
  namespaces cannot be made;
* ``needs-ray`` -- skipped where Ray is not installed.

The rest of the chapter (the imports, the pool program on mpref and on the standard
library, the final check that nothing is left behind) runs everywhere.  In JupyterLab
such a cell simply fails; the chapter says what it needs in its first cells.  This pytest
plugin is loaded by ``pyproject.toml``'s ``addopts`` (``-p tests.chapter_needs``).
"""

import functools
import importlib.util

import pytest


def _network_namespaces():
    from lab import netns
    return netns.unavailable_reason()


def _ray():
    if importlib.util.find_spec('ray') is None:
        return "Ray is not installed (the cluster extra: pip install -e '.[cluster]')"
    return None


#: cell tag -> a function returning None if the need is met here, else why not.
NEEDS = {
    'needs-network-namespaces': _network_namespaces,
    'needs-ray': _ray,
}


@functools.cache
def missing(tag):
    """Why this machine lacks what ``tag`` needs, or None."""
    return NEEDS[tag]()


def pytest_collection_modifyitems(items):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    for item in items:
        if not isinstance(item, IPyNbCell):
            continue
        for tag in item.cell.metadata.get('tags', []):
            if tag in NEEDS and missing(tag):
                item.add_marker(pytest.mark.skip(reason='%s: %s' % (tag, missing(tag))))
                break

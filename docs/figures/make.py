"""Make the course's pictures: ``docs/figures/NAME.py`` -> ``docs/figures/NAME.svg``.

    python docs/figures/make.py            # every picture whose source changed
    python docs/figures/make.py --all      # every picture, changed or not
    python docs/figures/make.py pool_map   # these pictures
    python docs/figures/make.py --check    # only say which pictures are stale (exit 1 if any)

A picture is *stale* when the hash its SVG carries is not the hash of its
source (``draw.py`` and ``NAME.py``, see ``draw.source_hash``).  Making a
picture twice from the same source, with the same matplotlib, gives the same
bytes.  ``tests/test_figures.py`` fails on a stale picture.
"""

import argparse
import importlib.util
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import draw  # noqa: E402  (the kit beside this file, found through the line above)

#: The files of this folder that are not pictures.
NOT_PICTURES = {'draw', 'make'}


def names():
    """The pictures: every ``NAME.py`` here except the kit and this command."""
    return sorted(p.stem for p in HERE.glob('*.py') if p.stem not in NOT_PICTURES)


def load(name):
    """Import ``NAME.py`` (it is not in a package) and return the module."""
    spec = importlib.util.spec_from_file_location('figure_' + name, HERE / ('%s.py' % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(name):
    """The SVG text of picture ``name``, made from its source now."""
    return load(name).draw().svg(draw.source_line(name))


def recorded_source(svg_text):
    """The ``docs/figures/NAME.py sha256:...`` line an SVG carries, or None."""
    match = re.search(r'<dc:source>([^<]*)</dc:source>', svg_text)
    return match.group(1) if match else None


def is_stale(name):
    svg = HERE / ('%s.svg' % name)
    return not svg.exists() or recorded_source(svg.read_text(encoding='utf-8')) != draw.source_line(name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('names', nargs='*', help='pictures to make (default: the stale ones)')
    parser.add_argument('--all', action='store_true', help='make every picture')
    parser.add_argument('--check', action='store_true', help='only list stale pictures')
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(names())
    if unknown:
        parser.error('no such picture: %s (there are: %s)' % (', '.join(sorted(unknown)),
                                                               ', '.join(names())))
    if args.check:
        stale = [n for n in names() if is_stale(n)]
        for name in stale:
            print('stale: docs/figures/%s.svg (run: python docs/figures/make.py %s)' % (name, name))
        return 1 if stale else 0
    chosen = args.names or (names() if args.all else [n for n in names() if is_stale(n)])
    for name in chosen:
        (HERE / ('%s.svg' % name)).write_text(render(name), encoding='utf-8')
        print('made docs/figures/%s.svg' % name)
    if not chosen:
        print('every picture is up to date')
    return 0


if __name__ == '__main__':
    sys.exit(main())

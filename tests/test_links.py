"""The project stands on its own (``docs/rules.md``).

* Every relative link in ``README.md``, ``docs/*.md`` and the chapters' markdown
  cells leads to a file (or folder) inside the repository, and a ``#section``
  after a Markdown file names one of its headings.
* No text anywhere in the project refers to a path outside the repository: no
  relative path that climbs out of it, and no mention of the builders' private
  notes (a folder and a file that a clone does not have).
* The commands the README shows are the ones that exist: ``.ci/run`` runs its
  test command, and its benchmark names are the benchmarks.
"""

import json
import pathlib
import re
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Folders that are not part of the project: tools' caches, virtual
#: environments and build output.
NOT_PROJECT = {'.git', '__pycache__', 'build', '.ipynb_checkpoints', '.pytest_cache', '.ruff_cache'}

#: ``[text](target)`` and ``![alt](target)``, with an optional "title".
MARKDOWN_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HTML_LINK = re.compile(r'\b(?:href|src)\s*=\s*"([^"]+)"')
#: Anything with a scheme (https:, mailto:, ...) is not a file in the repository.
SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
#: A relative path that starts by going up one folder or more (``../name``).
CLIMBING_PATH = re.compile(r'(?<![\w./-])((?:\.\./)+[\w./-]*)')
#: The people building mpref keep private notes (a guide and a copy of the
#: spec) outside the repository.  Written with character classes so that this
#: file does not match its own patterns.
PRIVATE_NOTES = [re.compile(r'\bshar[e]d/'), re.compile(r'\bG[U]IDE\b'),
                 re.compile(r'multiprocessing-2\.6\.m[d]')]


def _project_files():
    for path in sorted(ROOT.rglob('*')):
        parts = path.relative_to(ROOT).parts
        if any(p in NOT_PROJECT or p.startswith('.venv') or p.endswith('.egg-info') for p in parts):
            continue
        if path.is_file():
            yield path


def _text(path):
    try:
        return path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        return None             # a binary file holds no references


def _documents():
    """The documents a reader follows links in: (path, markdown text)."""
    docs = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
    docs += sorted((ROOT / 'notebooks').glob('*.ipynb'))
    return docs


def _markdown(path):
    if path.suffix != '.ipynb':
        return path.read_text(encoding='utf-8')
    cells = json.loads(path.read_text(encoding='utf-8'))['cells']
    return '\n\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')


def _without_code(markdown):
    """The markdown without its fenced code blocks (shell commands are not links)."""
    return re.sub(r'^```.*?^```', '', markdown, flags=re.S | re.M)


def _links(markdown):
    text = _without_code(markdown)
    return MARKDOWN_LINK.findall(text) + HTML_LINK.findall(text)


def _anchors(markdown):
    """The ``#fragment`` names of a Markdown file's headings, as GitHub makes them."""
    anchors = set()
    for heading in re.findall(r'^#{1,6}\s+(.+?)\s*#*$', _without_code(markdown), flags=re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
        anchors.add(slug)
    return anchors


def broken_links(path, markdown):
    """Describe each relative link in ``markdown`` (read from ``path``) that leads nowhere."""
    problems = []
    for target in _links(markdown):
        if SCHEME.match(target):
            continue
        name, _, fragment = target.partition('#')
        linked = (path.parent / urllib.parse.unquote(name)).resolve() if name else path
        if not linked.is_relative_to(ROOT):
            problems.append('%s: leads outside the repository' % target)
        elif not linked.exists():
            problems.append('%s: no such file' % target)
        elif fragment and linked.suffix == '.md' and fragment not in _anchors(_markdown(linked)):
            problems.append('%s: no heading makes the anchor #%s' % (target, fragment))
    return problems


def outside_references(path, text):
    """Describe each place in ``text`` (the contents of ``path``) that refers outside the project."""
    problems = []
    for climbing in CLIMBING_PATH.findall(text):
        if not (path.parent / climbing).resolve().is_relative_to(ROOT):
            problems.append('%r climbs out of the repository' % climbing)
    for pattern in PRIVATE_NOTES:
        for match in pattern.finditer(text):
            line = text.count('\n', 0, match.start()) + 1
            problems.append('line %d mentions %r, which is not part of the project'
                            % (line, match.group()))
    return problems


@pytest.mark.parametrize('path', _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    problems = broken_links(path, _markdown(path))
    assert not problems, '%s: %s' % (path.relative_to(ROOT), '; '.join(problems))


def test_nothing_refers_outside_the_repository():
    problems = []
    for path in _project_files():
        text = _text(path)
        if text is not None:
            problems += ['%s: %s' % (path.relative_to(ROOT), p) for p in outside_references(path, text)]
    assert not problems, '\n'.join(problems)


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    command = re.search(r'^python3 -m venv \.venv && .*-m pytest$', readme, flags=re.M)
    assert command, 'README.md shows no test command'
    assert command.group() in (ROOT / '.ci' / 'run').read_text(encoding='utf-8').splitlines()


def test_the_readme_names_every_benchmark():
    from mpref.benchmarks import BENCHMARKS
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    named = re.search(r'The names are the measured modules: (.*?) \(', readme, flags=re.S)
    assert named, 'README.md does not list the benchmark names'
    assert set(re.findall(r'`(\w+)`', named.group(1))) == set(BENCHMARKS)


def test_the_checks_can_fail():
    readme = ROOT / 'README.md'
    markdown = ('[ok](docs/README.md) [ok](docs/README.md#the-layering-rule) [web](https://x.org/a)\n'
                '[gone](docs/no-such-page.md) [up](../elsewhere/spec.md) '
                '[anchor](docs/README.md#no-such-heading)\n'
                '```sh\n[in code](nowhere.md)\n```\n')
    problems = broken_links(readme, markdown)
    assert len(problems) == 3, problems
    assert 'no such file' in problems[0]
    assert 'outside the repository' in problems[1]
    assert 'no-such-heading' in problems[2]
    text = ('see ../notes/spec.md, the ' + 'shar' + 'ed/ folder, the ' + 'GUI' + 'DE and '
            'spec/multiprocessing-2.6' + '.md; docs/../README.md is fine')
    assert len(outside_references(readme, text)) == 4, outside_references(readme, text)


# ---------------------------------------------------------------------------
# The chapters link to each other and to the files they name.
# ---------------------------------------------------------------------------

NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))

#: A repository file named in backquotes: `mpref/queues.py`, `docs/pool.md`, `lab/netns.py`.
NAMED_FILE = re.compile(r'(?<!\[)`((?:mpref|lab|docs|tests)/[\w/]+\.(?:py|md|cfg)|pyproject\.toml)`(?!\]\()')


def unlinked_file_names(markdown):
    """Files of the repository that ``markdown`` names in backquotes without linking to them."""
    return sorted({name for name in NAMED_FILE.findall(_without_code(markdown))
                   if (ROOT / name).is_file()})


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_links_the_files_it_names(path):
    unlinked = unlinked_file_names(_markdown(path))
    assert not unlinked, ('%s names files without linking them (write [`mpref/x.py`](../mpref/x.py)): %s'
                          % (path.name, unlinked))


@pytest.mark.parametrize('index', range(len(NOTEBOOKS)), ids=lambda i: NOTEBOOKS[i].name)
def test_a_chapter_links_the_previous_and_the_next(index):
    links = set(_links(_markdown(NOTEBOOKS[index])))
    neighbours = [NOTEBOOKS[i].name for i in (index - 1, index + 1) if 0 <= i < len(NOTEBOOKS)]
    missing = [name for name in neighbours if name not in links]
    assert not missing, '%s does not link to %s' % (NOTEBOOKS[index].name, missing)


def test_the_link_checks_can_fail():
    markdown = ('[`mpref/queues.py`](../mpref/queues.py) `mpref/pool.py` `mpref/no_such.py` '
                '`docs/pool.md`\n```\n`mpref/heap.py`\n```\n')
    assert unlinked_file_names(markdown) == ['docs/pool.md', 'mpref/pool.py']


# ---------------------------------------------------------------------------
# The course command: JupyterLab rooted at the repository, the install hidden.
# ---------------------------------------------------------------------------

def test_the_course_command_roots_jupyterlab_at_the_repository_and_hides_the_install():
    from fnmatch import fnmatch
    from traitlets.config.loader import PyFileConfigLoader
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    command = re.search(r'^python3 -m venv \.venv && .*jupyter lab (.*)$', readme, flags=re.M)
    assert command and '--config=jupyter_course_config.py' in command.group(1).split(), command
    config = PyFileConfigLoader('jupyter_course_config.py', path=str(ROOT)).load_config()
    assert config.ServerApp.root_dir == str(ROOT)
    hidden = config.ContentsManager.hide_globs
    assert any(fnmatch('mpref.egg-info', glob) for glob in hidden)
    assert not any(fnmatch(name, glob) for glob in hidden for name in ('mpref', 'notebooks', 'docs'))

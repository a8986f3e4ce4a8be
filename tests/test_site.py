"""The course site, built with the README's command and read in a real browser.

* The README's site command builds the site with warnings as errors (a broken link or
  cross-reference fails it).
* Every relative link on a chapter or docs page leads to a file of the site: the pages
  of the source files the chapters cite (``site/source_pages.py``), the other chapters,
  the docs pages; each chapter offers its ``.ipynb`` for download; every image has alt
  text that describes it (not its file name).
* In headless Chromium, at a laptop's width (1366 CSS pixels) and a desktop's (1920),
  no code, output, table, diagram or figure of any page is clipped or scrolls sideways,
  and no line of code up to 120 characters wide, nor of output up to 140 (chapter 13's
  tables), wraps; longer lines wrap rather than hide
  (``site/static/course.css``).  Debian's ``chromium`` package is the browser
  (``.ci/run`` installs it); where no Chromium is installed this test skips, saying so.
"""

import functools
import html.parser
import http.server
import json
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
DOCS = sorted((ROOT / 'docs').glob('*.md'))

#: The README's command that builds the site (its venv set-up, then sphinx-build).
SITE_COMMAND = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install -q -e '\.\[site\]' "
                          r"&& \.venv/bin/sphinx-build (.+) build/site$", flags=re.M)

#: Window widths the layout must hold at: a common laptop's, a desktop's.
WIDTHS = [1366, 1920]

#: Chromium as the brief for a headless run in a container: no sandbox (root), no GPU,
#: nothing fetched or synced, a fresh profile.
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']


def _chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The site, built into a temporary folder by the README's command."""
    command = SITE_COMMAND.search((ROOT / 'README.md').read_text(encoding='utf-8'))
    assert command, "README.md shows no command that builds the site into build/site"
    out = tmp_path_factory.mktemp('site')
    done = subprocess.run([sys.executable, '-m', 'sphinx', *command.group(1).split(), str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, 'the site does not build:\n' + done.stdout[-3000:] + done.stderr[-5000:]
    return out


def _page(path):
    """The built page of a chapter or docs file: notebooks/04_queues.ipynb -> notebooks/04_queues.html."""
    return path.relative_to(ROOT).with_suffix('.html')


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.downloads, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'a' and attrs.get('href'):
            self.links.append(attrs['href'])
            if 'download' in attrs.get('class', ''):
                self.downloads.append(attrs['href'])
        elif tag == 'img':
            self.images.append(attrs)


def _parse(page):
    parser = _Links()
    parser.feed(page.read_text(encoding='utf-8'))
    return parser


@pytest.mark.timeout(600)
@pytest.mark.parametrize('source', NOTEBOOKS + DOCS + [ROOT / 'README.md'],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_on_a_page_leads_to_a_file_of_the_site(site, source):
    page = site / _page(source)
    broken = []
    for href in _parse(page).links:
        target = urllib.parse.urlparse(href)
        if target.scheme or not target.path:
            continue
        if not (page.parent / urllib.parse.unquote(target.path)).resolve().is_file():
            broken.append(href)
    assert not broken, '%s links to files the site lacks: %s' % (_page(source), broken)


@pytest.mark.timeout(600)
@pytest.mark.parametrize('chapter', NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_links_to_the_source_it_cites_and_offers_its_notebook(site, chapter):
    page = site / _page(chapter)
    parsed = _parse(page)
    downloads = [href for href in parsed.downloads if href.endswith('/' + chapter.name)]
    assert downloads, '%s offers no download of %s' % (_page(chapter), chapter.name)
    assert (page.parent / downloads[0]).read_bytes() == chapter.read_bytes()
    cited = set(re.findall(r'\]\(\.\./((?:mpref|lab)/[\w/]+\.py)\)', chapter.read_text(encoding='utf-8')))
    linked = {href[len('../'):].split('#')[0].removesuffix('.html') + '.py'
              for href in parsed.links if href.startswith(('../mpref/', '../lab/'))}
    assert cited <= linked, '%s: no link to the pages of %s' % (_page(chapter), sorted(cited - linked))


@pytest.mark.timeout(600)
def test_the_source_pages_show_the_files(site):
    page = (site / 'mpref' / 'queues.html').read_text(encoding='utf-8')
    assert '<h1>mpref/queues.py' in page                               # the title
    assert re.search(r'class</span>(<span class="w"> </span>| )<span class="nc">Queue</span>', page)
    assert '<span class="linenos">' in page                           # line numbers
    assert (site / 'lab' / 'netns.html').is_file() and (site / 'tests' / 'nbval_sanitize.html').is_file()


@pytest.mark.timeout(600)
@pytest.mark.parametrize('chapter', NOTEBOOKS, ids=lambda p: p.name)
def test_every_image_has_alt_text(site, chapter):
    for image in _parse(site / _page(chapter)).images:
        alt = image.get('alt') or ''
        assert len(alt.split()) >= 5 and not re.search(r'\.(png|jpe?g|gif|svg)\b', alt), \
            '%s: an image without real alt text: %r' % (chapter.name, alt)


@pytest.mark.timeout(600)
def test_the_projects_page_does_not_read_like_a_home_link(site):
    sidebar = (site / 'site' / 'index.html').read_text(encoding='utf-8')
    entry = re.search(r'<a class="reference internal" href="\.\./README\.html">(.*?)</a>', sidebar)
    assert entry and 'README' in entry.group(1), entry


# ---------------------------------------------------------------------------
# The layout, measured in Chromium.
# ---------------------------------------------------------------------------

#: Run in every page (an iframe of the harness, as wide as a window): what does not fit.
MEASURE = r'''
function measure(doc, page, width) {
  const problems = [];
  const say = (what, el) => problems.push({page, width, what,
      text: (el.textContent || el.alt || '').trim().slice(0, 160)});
  const view = doc.documentElement.clientWidth;
  if (doc.documentElement.scrollWidth > view + 1) say('the page scrolls sideways', doc.body);
  for (const el of doc.querySelectorAll('article pre, article .table-wrapper, article table, article img')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;                       // not shown at this width
    if (el.scrollWidth > el.clientWidth + 1) say(el.tagName + ' scrolls sideways', el);
    if (box.right > view + 1) say(el.tagName + ' goes past the right edge', el);
  }
  for (const pre of doc.querySelectorAll('article pre')) {
    const lines = pre.textContent.replace(/\n$/, '').split('\n');
    const widest = pre.closest('div.cell_output') ? 140 : 120;        // outputs are set smaller
    if (Math.max(...lines.map(line => line.length)) > widest) continue;   // may wrap
    const wrapped = pre.getBoundingClientRect().height;
    pre.style.whiteSpace = 'pre'; pre.style.overflow = 'hidden';
    const unwrapped = pre.getBoundingClientRect().height;
    pre.style.whiteSpace = ''; pre.style.overflow = '';
    if (wrapped > unwrapped + 1) say('a line wraps', pre);
  }
  return problems;
}
window.addEventListener('load', () => {
  let problems = [];
  for (const frame of document.querySelectorAll('iframe')) {
    problems = problems.concat(measure(frame.contentDocument, frame.dataset.page, frame.width));
  }
  document.getElementById('results').textContent = JSON.stringify(problems);
});
'''


def _harness(pages):
    frames = ''.join('<iframe data-page="%s" src="%s" width="%d" height="900"></iframe>\n'
                     % (page, page, width) for width in WIDTHS for page in pages)
    return ('<!doctype html><html><head><meta charset="utf-8"><script>%s</script></head>'
            '<body><pre id="results">not measured</pre>\n%s</body></html>' % (MEASURE, frames))


@pytest.fixture(scope='module')
def served_site(site):
    """The built site on a loopback HTTP server (frames of one origin can be measured)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.timeout(600)
def test_wide_content_fits_at_a_laptops_width(site, served_site, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip('no Chromium to read the site with (Debian: apt-get install chromium)')
    pages = [str(_page(p)) for p in NOTEBOOKS + DOCS] + ['site/index.html', 'README.html',
                                                        'mpref/queues.html']
    (site / 'layout-check.html').write_text(_harness(pages), encoding='utf-8')
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, '--user-data-dir=%s' % (tmp_path / 'profile'),
                           '--virtual-time-budget=60000', '--dump-dom', served_site + 'layout-check.html'],
                          capture_output=True, text=True, timeout=300)
    found = re.search(r'<pre id="results">(.*?)</pre>', done.stdout, flags=re.S)
    assert found and found.group(1).startswith('['), 'Chromium measured nothing:\n' + done.stderr[-3000:]
    problems = json.loads(html.unescape(found.group(1)))
    assert not problems, 'content that does not fit:\n' + '\n'.join(
        '%(page)s at %(width)s px: %(what)s: %(text)r' % p for p in problems[:40])

"""The drawing kit of the course's pictures: boxes, arrows, lanes and messages, in one palette.

Every picture in ``docs/figures/`` is a small Python file, ``NAME.py``, whose
``draw()`` builds a ``Drawing`` with the methods below and returns it;
``make.py`` saves it as ``NAME.svg`` beside it.  The chapters and the reading
guide show the SVG (``![what it shows](../docs/figures/NAME.svg)``).

The coordinates are points (1/72 inch; a browser shows 1 pt as 1.33 px),
measured from the top-left corner, *y growing downwards* as on a page.  A
drawing 660 pt wide is 880 px: the width of a notebook cell, and scaled down a
little on the course site.

The palette gives each kind of thing one colour, in every picture (the
colours are matplotlib's ``tab10``; mpref's is the blue of the benchmark
plots, where the stdlib is orange):

=========  ===========  ===================================================
kind       colour       what
=========  ===========  ===================================================
``mpref``  tab:blue     mpref's code: a thread running it, a function name
``os``     tab:purple   the operating system's objects: pipes, sockets,
                        semaphores, shared memory, processes being made
``data``   tab:green    data in flight: bytes, pickles, messages
``wake``   tab:red      a wake-up: end of file on a sentinel, a notify, a signal
``user``   tab:gray     the program's own objects: targets, referents, results
=========  ===========  ===================================================

Text is kept as text in the SVG (``svg.fonttype = 'none'``), so a reader can
search a picture for a function's name and the tests can check that every
mpref name it shows exists.  Code is written in backquotes, a whole line or a
part of one (``'keeps parent_r as `Process.sentinel`'``), and shown in
monospace, in mpref's blue; a line that mixes the two is one SVG ``<text>``
with the code in ``<tspan>``s, so that every viewer lays it out in its own
fonts.  Leading spaces indent a line.  Text must fit its box with a margin
(fonts differ a little between viewers): ``Drawing.check_fit`` raises
otherwise, so a picture that does not fit is not saved.
"""

import hashlib
import io
import pathlib
import re

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path

#: One colour per kind of thing (matplotlib's tab10), and a pale fill for boxes.
PALETTE = {
    'mpref': ('#1f77b4', '#e9f1f9'),
    'os': ('#9467bd', '#f2ecf7'),
    'data': ('#2ca02c', '#e8f5e8'),
    'wake': ('#d62728', '#fbe9e9'),
    'user': ('#7f7f7f', '#f2f2f2'),
}
#: What the legend says of each kind.
MEANING = {
    'mpref': "mpref's code",
    'os': 'operating system',
    'data': 'data in flight',
    'wake': 'wake-up, end of file',
    'user': "the program's objects",
}
INK = '#222222'                 # prose
CODE_INK = '#155a8a'            # code: mpref's blue, a shade darker to read small
PROCESS_EDGE = '#555555'
PROCESS_FILL = '#fbfbfb'

SANS = ['DejaVu Sans', 'Bitstream Vera Sans', 'Arial', 'Helvetica', 'Liberation Sans', 'sans-serif']
MONO = ['DejaVu Sans Mono', 'Menlo', 'Consolas', 'Courier New', 'monospace']
#: Font sizes, in points.
TITLE, HEADING, BODY, CODE, SMALL = 12.5, 10.2, 9.5, 9.1, 8.4
LINE = 13.0                     # the distance between two lines of a box
PAD = 6.5                       # inside a box, around its text
INDENT = 4.5                    # per leading space of a line
#: Text may fill at most this share of the room it has: another viewer's font
#: may be a little wider than the one measured here.
FIT = 0.94

#: What makes the SVG the same bytes every time it is made from the same source.
RC = {
    'svg.fonttype': 'none',
    'svg.hashsalt': 'mpref-figures',
    'font.family': 'sans-serif',
    'font.sans-serif': SANS,
    'font.monospace': MONO,
    'path.simplify': False,
}


def indent(line):
    """How far a line that starts with spaces is moved right (SVG would drop the spaces)."""
    return INDENT * (len(line) - len(line.lstrip(' ')))


def is_code(line):
    """True for a line written in backquotes: it is shown as code."""
    return len(line) >= 2 and line[0] == line[-1] == '`'


class Box:
    """A rectangle already drawn: where its edges are, to attach arrows to."""

    def __init__(self, x, y, w, h, baselines=()):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.baselines = list(baselines)

    def line(self, i):
        """The middle height of line ``i`` of the box (0: the first after the heading)."""
        return self.baselines[i] - 3

    def top(self, f=0.5):
        return (self.x + f * self.w, self.y)

    def bottom(self, f=0.5):
        return (self.x + f * self.w, self.y + self.h)

    def left(self, f=0.5):
        return (self.x, self.y + f * self.h)

    def right(self, f=0.5):
        return (self.x + self.w, self.y + f * self.h)


class Drawing:
    """One picture, ``width`` x ``height`` points, with a title at the top."""

    def __init__(self, width, height, title):
        self.width, self.height = width, height
        with matplotlib.rc_context(RC):
            self.figure = Figure(figsize=(width / 72, height / 72), dpi=72)
            FigureCanvasAgg(self.figure)        # to measure text (check_fit)
            self.ax = self.figure.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(height, 0)
        self.ax.set_axis_off()
        self.kinds = []                     # the kinds used, for the legend
        self._fits = []                     # (text artist, left, top, right, bottom)
        self._mixed = {}                    # text artist -> its segments, prose and code
        self.text(12, 10, title, size=TITLE, bold=True, va='top')

    # -- text ------------------------------------------------------------------

    def text(self, x, y, line, size=None, bold=False, color=None, ha='left', va='baseline',
             within=None, background=None):
        """Write one line at ``(x, y)``; ```code``` in backquotes is shown as code.

        A line wholly in backquotes is code; a line with code in some places
        keeps it as code there (``prose `code` prose``).  ``within`` = (left,
        top, right, bottom): the room the line must fit in (``check_fit``).
        ``background``: a colour to paint behind it (for labels on lines).
        """
        segments = line.split('`')
        code = len(segments) == 3 and not segments[0] and not segments[2]
        mixed = len(segments) > 1 and not code
        plain = ''.join(segments)
        with matplotlib.rc_context(RC):
            artist = self.ax.text(
                x, y, plain, ha=ha, va=va,
                fontsize=size or (CODE if code else BODY),
                family='monospace' if code else 'sans-serif',
                fontweight='bold' if bold else 'normal',
                color=color or (CODE_INK if code else INK), clip_on=False, zorder=5)
        if mixed:
            # Written as one SVG <text> with the code in <tspan>s (see ``svg``), so
            # that every viewer lays the line out itself, in its own fonts.
            artist.set_gid('mixed-%d' % len(self._mixed))
            self._mixed[artist] = segments
        if background:
            artist.set_bbox({'facecolor': background, 'edgecolor': 'none', 'pad': 1.0})
        if within is not None:
            self._fits.append((artist,) + tuple(within))
        return artist

    def lines(self, x, y, lines, width=None, size=None, color=None):
        """Write ``lines`` one under the other, the first baseline at ``y``.

        With ``width``, each line must fit between ``x`` and ``x + width``.
        Returns the y of the line after the last.
        """
        for line in lines:
            if line.strip():
                within = None if width is None else (x, y - LINE, x + width, y + 4)
                self.text(x + indent(line), y, line.lstrip(' '), size=size, color=color,
                          within=within)
            y += LINE
        return y

    # -- boxes -------------------------------------------------------------------

    def box(self, x, y, w, lines=(), heading=None, kind='mpref', h=None):
        """A rounded box of ``kind``'s colours: a bold heading, then lines.

        Its height follows from the lines unless ``h`` is given.  Returns the ``Box``.
        """
        self._use(kind)
        edge, fill = PALETTE[kind]
        rows = len(lines) + (1 if heading else 0)
        if h is None:
            h = 2 * PAD + rows * LINE - 2
        self.ax.add_patch(FancyBboxPatch(
            (x, y), w, h, boxstyle='round,pad=0,rounding_size=4', facecolor=fill,
            edgecolor=edge, linewidth=1.1, clip_on=False, zorder=2))
        baseline = y + PAD + 9
        if heading:
            self.text(x + PAD, baseline, heading, size=HEADING, bold=not is_code(heading),
                      within=(x + PAD, y, x + w - PAD, y + h))
            baseline += LINE
        baselines = []
        for line in lines:
            if line.strip():
                self.text(x + PAD + indent(line), baseline, line.lstrip(' '),
                          within=(x + PAD, y, x + w - PAD, y + h))
            baselines.append(baseline)
            baseline += LINE
        return Box(x, y, w, h, baselines)

    def process(self, x, y, w, h, heading, note=None):
        """A process: a big grey frame, its name at the top left (``note`` after it, smaller)."""
        self.ax.add_patch(FancyBboxPatch(
            (x, y), w, h, boxstyle='round,pad=0,rounding_size=7', facecolor=PROCESS_FILL,
            edgecolor=PROCESS_EDGE, linewidth=1.6, clip_on=False, zorder=1))
        self.text(x + 8, y + 15, heading, size=HEADING + 0.5, bold=True,
                  within=(x + 8, y, x + w - 8, y + 20))
        if note:
            self.text(x + w - 8, y + 15, note, size=SMALL, ha='right', color='#555555',
                      within=(x + 8, y, x + w - 8, y + 20))
        return Box(x, y, w, h)

    def cells(self, x, y, cells, h=20, kind='data'):
        """A row of adjacent cells: ``[(text, width), ...]`` (bytes of a message, blocks of memory).

        Returns the x where each cell starts, and the end.
        """
        self._use(kind)
        edge, fill = PALETTE[kind]
        starts = []
        for text, width, *shade in cells:
            starts.append(x)
            self.ax.add_patch(Rectangle((x, y), width, h, facecolor=shade[0] if shade else fill,
                                        edgecolor=edge, linewidth=1.0, clip_on=False, zorder=2))
            if text:
                self.text(x + width / 2, y + h / 2 + 3.2, text, ha='center',
                          within=(x + 2, y, x + width - 2, y + h))
            x += width
        return starts + [x]

    def span(self, x1, x2, y, label):
        """A bracket under ``x1`` to ``x2``, hanging from ``y``, with ``label`` under it."""
        self.ax.add_line(matplotlib.lines.Line2D(
            [x1 + 1, x1 + 1, x2 - 1, x2 - 1], [y, y + 4, y + 4, y], color='#555555',
            linewidth=0.9, clip_on=False))
        self.text((x1 + x2) / 2, y + 15, label, ha='center', size=SMALL if not is_code(label) else None)

    # -- arrows --------------------------------------------------------------------

    def arrow(self, *points, kind='data', label=None, label_at=None, label_dx=0, label_dy=-4,
              label_ha='center', both=False, lw=None):
        """An arrow through ``points`` (two or more ``(x, y)``), the head at the last
        (at both ends if ``both``); a ``wake`` arrow is dashed.

        ``label`` is written beside the segment ``label_at`` (default: the
        middle one), at its middle, moved by ``label_dx, label_dy``.
        """
        self._use(kind)
        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        patch = FancyArrowPatch(path=Path(points, codes), arrowstyle='<|-|>' if both else '-|>',
                                mutation_scale=11, color=PALETTE[kind][0],
                                linewidth=lw or (1.8 if kind == 'data' else 1.2),
                                linestyle='--' if kind == 'wake' else '-', clip_on=False, zorder=3)
        self.ax.add_patch(patch)
        if label:
            i = (len(points) - 2) // 2 if label_at is None else label_at
            (x1, y1), (x2, y2) = points[i], points[i + 1]
            self.text((x1 + x2) / 2 + label_dx, (y1 + y2) / 2 + label_dy, label, ha=label_ha,
                      size=SMALL if not is_code(label) else None, background='white')
        return patch

    def step(self, x, y, n):
        """A numbered disc: step ``n`` of the walk the text beside the picture tells."""
        self.ax.add_patch(Circle((x, y), 7.5, facecolor=PALETTE['mpref'][0], edgecolor='white',
                                 linewidth=1.0, clip_on=False, zorder=6))
        self.text(x, y + 3.1, str(n), size=SMALL + 0.4, bold=True, color='white',
                  ha='center').set_zorder(7)

    # -- sequence diagrams -----------------------------------------------------------

    def lifeline(self, x, y, bottom, heading, lines=(), w=200, kind='mpref'):
        """A participant of a sequence diagram: a box at the top, a dashed line down to ``bottom``."""
        head = self.box(x - w / 2, y, w, lines, heading=heading, kind=kind)
        self.ax.add_line(matplotlib.lines.Line2D([x, x], [y + head.h, bottom], color='#777777',
                                                 linewidth=1.0, linestyle=(0, (4, 3)), zorder=0))
        return head

    def activation(self, x, top, bottom, kind='mpref'):
        """A narrow bar on the lifeline at ``x``: that participant is busy from ``top`` to ``bottom``."""
        self._use(kind)
        edge, fill = PALETTE[kind]
        self.ax.add_patch(Rectangle((x - 4, top), 8, bottom - top, facecolor=fill, edgecolor=edge,
                                    linewidth=1.0, clip_on=False, zorder=1))

    def message(self, y, x1, x2, label, kind='data', note=None):
        """A message from the lifeline at ``x1`` to the one at ``x2``, at height ``y``:
        ``label`` above the arrow, ``note`` (smaller) below it."""
        self.arrow((x1, y), (x2, y), kind=kind)
        middle = (x1 + x2) / 2
        room = (min(x1, x2) + 4, y - 14, max(x1, x2) - 4, y + 14)
        self.text(middle, y - 4, label, ha='center', within=room)
        if note:
            self.text(middle, y + 11, note, ha='center', size=SMALL, color='#444444', within=room)

    # -- the end -------------------------------------------------------------------

    def legend(self, y=None):
        """One line at the bottom: a swatch and a word for each kind this picture uses."""
        y = self.height - 11 if y is None else y
        x = 12
        for kind in self.kinds:
            edge, fill = PALETTE[kind]
            self.ax.add_patch(Rectangle((x, y - 8), 14, 9, facecolor=fill, edgecolor=edge,
                                        linewidth=1.2, clip_on=False))
            label = self.text(x + 19, y, MEANING[kind], size=SMALL, color='#444444')
            x += 19 + self.width_of(label) + 16

    def check_fit(self):
        """Raise ``ValueError`` naming every text that overflows its room or the picture."""
        problems = []
        texts = [(t, (0, 0, self.width, self.height)) for t in self.ax.texts]
        texts += [(f[0], f[1:]) for f in self._fits]
        for artist, (left, top, right, bottom) in texts:
            width = self.width_of(artist) / FIT
            x = artist.get_position()[0]
            start = x - {'left': 0, 'center': width / 2, 'right': width}[artist.get_ha()]
            if start < left - 0.5 or start + width > right + 0.5:
                problems.append('%r needs %.0f pt (with a margin); its room is %.0f pt'
                                % (artist.get_text(), width, right - left))
        if problems:
            raise ValueError('text does not fit:\n  ' + '\n  '.join(sorted(set(problems))))

    def width_of(self, artist):
        """How wide a text is, in points, in the fonts this machine has (DejaVu)."""
        renderer = self.figure.canvas.get_renderer()
        segments = self._mixed.get(artist)
        if segments is None:
            (x0, _), (x1, _) = self.ax.transData.inverted().transform(
                artist.get_window_extent(renderer).get_points())
            return x1 - x0
        width = 0.0
        for i, segment in enumerate(segments):
            font = artist.get_fontproperties().copy()
            if i % 2:
                font.set_family('monospace')
                font.set_size(font.get_size() * CODE / BODY)
            width += renderer.get_text_width_height_descent(segment, font, ismath=False)[0]
        return width * 72 / self.figure.dpi

    def svg(self, source):
        """The picture as SVG text, the same bytes for the same drawing.

        ``source`` (where the picture comes from, and the hash of that source)
        is written into the SVG's metadata; no date is.
        """
        self.check_fit()
        out = io.StringIO()
        with matplotlib.rc_context(RC):
            self.figure.savefig(out, format='svg', metadata={
                'Date': None, 'Creator': 'matplotlib %s' % matplotlib.__version__,
                'Source': source})
        text = out.getvalue()
        for artist, segments in self._mixed.items():
            text = _with_code_spans(text, artist, segments)
        return text

    def _use(self, kind):
        if kind not in self.kinds:
            self.kinds.append(kind)


def _with_code_spans(svg, artist, segments):
    """Put the code of a mixed line into ``<tspan>``s of its SVG ``<text>``."""
    pattern = re.compile(r'(<g id="%s">\s*<text [^>]*>)([^<]*)(</text>)' % artist.get_gid())
    size = artist.get_fontsize() * CODE / BODY
    style = 'font-family: %s; font-size: %spx; fill: %s' % (
        ', '.join(f if f == 'monospace' else "'%s'" % f for f in MONO), _number(size), CODE_INK)
    parts = []
    for i, segment in enumerate(segments):
        segment = segment.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
        if i % 2:
            parts.append('<tspan style="%s">%s</tspan>' % (style, segment))
        else:
            parts.append(segment)
    svg, found = pattern.subn(lambda m: m.group(1) + ''.join(parts) + m.group(3), svg)
    assert found == 1, 'mixed text %r not found in the SVG' % artist.get_text()
    return svg


def _number(value):
    return ('%.2f' % value).rstrip('0').rstrip('.')


# -- where a picture comes from ----------------------------------------------------

HERE = pathlib.Path(__file__).resolve().parent


def source_hash(name):
    """The hash of what makes picture ``name``: this kit and ``NAME.py``, as text."""
    digest = hashlib.sha256()
    for path in (HERE / 'draw.py', HERE / ('%s.py' % name)):
        digest.update(path.read_text(encoding='utf-8').encode('utf-8'))
        digest.update(b'\0')
    return digest.hexdigest()


def source_line(name):
    """What a picture's SVG says of its source: ``docs/figures/NAME.py sha256:...``."""
    return 'docs/figures/%s.py sha256:%s' % (name, source_hash(name))

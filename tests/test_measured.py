"""The course's way to measure, plot and hold a claim (``notebooks/measured.py``)."""

import matplotlib
import pytest

from notebooks import measured

matplotlib.use('Agg')


def test_spread_is_median_and_extremes():
    assert measured.spread_of([3, 1, 2, 10, 4]) == measured.Spread(3, 1, 10)
    assert str(measured.Spread(1.5, 1, 2)) == '1.5 (1-2)'


def test_ratio_of_spreads_crosses_the_extremes():
    ratio = measured.Spread(10, 8, 12) / measured.Spread(5, 4, 6)
    assert ratio == measured.Spread(2, 8 / 6, 12 / 4)


def test_repeat_gives_rates():
    spread = measured.repeat(lambda: None, times=3, per_call=10)
    assert spread.low <= spread.median <= spread.high and spread.low > 0


def test_claim_holds_quietly_and_fails_loudly(capsys):
    measured.claim('mpref at least as fast', measured.Spread(1.4, 1.2, 1.6), at_least=1.0)
    assert capsys.readouterr().out == 'holds: mpref at least as fast (at least 1)\n'
    with pytest.raises(AssertionError, match='measured 0.7, the prose says at least 1'):
        measured.claim('mpref at least as fast', 0.7, at_least=1.0)
    with pytest.raises(AssertionError, match='at most 2'):
        measured.claim('bounded', 3, at_most=2)


def test_bars_use_the_course_colours_and_say_which_way_is_better():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    s = measured.Spread(2, 1, 3)
    measured.bars(ax, ['a label long enough to be wrapped onto two lines', 'b'],
                  {'mpref': [s, s], 'stdlib': [s, s]}, unit='operations/s')
    assert ax.get_xlabel() == 'operations/s (higher is better)'
    colours = {p.get_facecolor() for p in ax.patches}
    assert colours == {matplotlib.colors.to_rgba('tab:blue'), matplotlib.colors.to_rgba('tab:orange')}
    assert '\n' in ax.get_yticklabels()[0].get_text()
    plt.close(fig)

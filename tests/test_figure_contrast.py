"""Numbers drawn on figure cells are readable whatever shade the cell took (WCAG 2.1 contrast), and curves that
carry meaning differ in line style, not in colour alone (a greyscale print)."""

import numpy as np
from matplotlib.colors import to_rgb

from scintiml.report.figures import _confusion, _decision, _heatmap, _luminance, text_colour_on


def _contrast(a, b) -> float:
    la, lb = sorted((_luminance(to_rgb(a)), _luminance(to_rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _cell_text_contrasts(ax):
    im = ax.images[0]
    m = im.get_array()
    out = []
    for t in ax.texts:
        j, i = (int(round(v)) for v in t.get_position())
        out.append(_contrast(t.get_color(), im.cmap(im.norm(m[i, j]))[:3]))
    return out


def test_the_text_colour_is_the_one_of_higher_contrast():
    for rgb in np.random.RandomState(0).uniform(size=(200, 3)):
        chosen = text_colour_on(rgb)
        other = "white" if chosen == "black" else "black"
        assert _contrast(chosen, rgb) >= _contrast(other, rgb)
        assert _contrast(chosen, rgb) >= 4.5  # black or white always reaches AA against some side


def test_confusion_counts_are_readable_on_their_cells():
    # counts 20-26: every cell is above half the largest, so the old rule wrote white on the near-white cell of 20
    fig = _confusion({"test": {"confusion_matrix": {"tp": 20, "fn": 21, "fp": 26, "tn": 22}}})
    contrasts = _cell_text_contrasts(fig.axes[0])
    assert len(contrasts) == 4 and min(contrasts) >= 4.5, contrasts


def test_a_small_heat_map_writes_r_in_each_cell_readably():
    names = ["a", "b", "c"]
    m = [[1.0, -0.95, 0.1], [-0.95, 1.0, 0.0], [0.1, 0.0, 1.0]]
    fig = _heatmap({"explore": {"correlation": {"inputs": names, "matrix": m}}})
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for row in m for v in row)
    assert min(_cell_text_contrasts(ax)) >= 4.5


def test_decision_curve_references_differ_in_line_style():
    d = {"threshold": [0.1, 0.5], "model": [0.2, 0.1], "treat_all": [0.15, -0.5], "treat_none": [0.0, 0.0]}
    fig = _decision({"test": {"decision_curve": d, "prevalence": 0.3}})
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].lines}
    assert len({styles["network"], styles["treat all"], styles["treat none"]}) == 3, styles


def _printed_smallest_font(fig) -> float:
    """The smallest text on the figure in points as report.pdf prints it: the figure (cropped to its drawn
    content, as the report saves it) is shrunk to the page's 182 mm text width and 200 mm image height."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())
    scale = min(1.0, (182 / 25.4) / box.width, (200 / 25.4) / box.height)
    return scale * min(t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip())


def test_wide_tables_figures_print_their_labels_at_6_pt_or_more():
    # before 0.7.1 a 50-input heat map was drawn 12 in wide and printed its labels at 4 pt (30 inputs: 5 pt)
    from scintiml.report.figures import _importance, figure_style

    rng = np.random.RandomState(0)
    with figure_style():
        for n in (8, 30, 50):
            names = [f"original_glcm_feature_{i:02d}_wavelet_LHL" for i in range(n)]
            fig = _heatmap({"explore": {"correlation": {"inputs": names,
                                                         "matrix": np.corrcoef(rng.normal(size=(n, 3 * n)))}}})
            assert _printed_smallest_font(fig) >= 6, n
        rows = [{"group": f"original_glszm_SmallAreaLowGrayLevelEmphasis_{i}", "importance_mean": 1 / (i + 1),
                 "importance_sd": 0.01} for i in range(30)]
        assert _printed_smallest_font(_importance({"importance": rows})) >= 6

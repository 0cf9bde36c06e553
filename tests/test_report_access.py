"""Accessibility of the study and validation reports: text alternatives with the figures' numbers, tables a screen
reader can walk (header rows, scopes, captions), a footer readable at AA contrast that names the study, and a
tagged PDF."""

import html as html_module
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scintiml.datasets import make_mibg_cohort
from scintiml.report import write_report
from scintiml.study import run_study

TEMPLATES = Path(__file__).parents[1] / "src" / "scintiml" / "report" / "templates"
#: the bare labels the images carried before: a label names a figure, it does not describe it
BARE = {"calibration", "importance", "roc curve", "decision curve", "input shift", "calibration plot", "baselines",
        "readiness", "partial dependence", "gain and lift", "confusion matrix", "order selection", "network diagram",
        "correlation heat map", "input selection trace", "nested cross-validation headline",
        "how often each input was chosen"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small study (the published single-split workflow, 5 inputs, readiness assessed) and its report."""
    cohort = make_mibg_cohort(n_patients=150, random_state=0).subset(
        ["delta_lvef", "planar_washout", "early_hm_ratio", "late_hm_ratio", "age"])
    result = run_study(cohort, selection="split", random_state=0)
    folder = tmp_path_factory.mktemp("study")
    with warnings.catch_warnings():  # no pango here: the HTML report only (the PDF test says so)
        warnings.simplefilter("ignore")
        paths = write_report(result.results, folder)
    return result.results, paths


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    """A network trained on Cleveland validated on the VA patients (inputs shifted), and its report."""
    from scintiml.ann import ANNClassifier
    from scintiml.bundle import Bundle
    from scintiml.bundle.tabular import training_summary
    from scintiml.datasets import heart_disease_frame, load_heart_disease
    from scintiml.external import validate_bundle
    from scintiml.external.report import write_validation_report

    cleveland = load_heart_disease("cleveland")
    inputs = ["age", "sex", "cp", "thalach"]
    net = ANNClassifier(hidden_layer_sizes=(2,), random_state=0).fit(cleveland.X[inputs], cleveland.y)
    bundle = Bundle({"inputs": inputs, "threshold": 0.5, "positive": 1, "imputation": {},
                     "training_summary": training_summary(cleveland.X[inputs])}, net, {})
    v = validate_bundle(bundle, heart_disease_frame("va"), "disease").to_dict()
    v.update({"model": "cleveland", "data": "va", "scintiml_version": "test"})
    folder = tmp_path_factory.mktemp("validation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = write_validation_report(v, folder)
    return v, written


class _Page(HTMLParser):
    """The images' alt texts, the tables (caption, header row, scopes, empty headers) and the visible text."""

    def __init__(self):
        super().__init__()
        self.alts, self.tables, self.text, self._table, self._section, self._cell = [], [], [], None, None, None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.alts.append(attrs.get("alt"))
        elif tag in ("style", "title"):
            self._skip += 1
        elif tag == "table":
            self._table = {"caption": "", "thead": False, "col_headers": [], "rows": [], "empty_th": 0}
        elif self._table is not None:
            if tag in ("thead", "tbody", "caption"):
                self._section = tag
                self._table["thead"] |= tag == "thead"
            elif tag == "tr":
                self._table["rows"].append([])
            elif tag in ("th", "td"):
                self._cell = [tag, attrs.get("scope"), ""]
                self._table["rows"][-1].append(self._cell)
                if tag == "th" and self._section == "thead":
                    self._table["col_headers"].append(attrs.get("scope"))

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self._skip -= 1
        elif tag == "table":
            self._table["empty_th"] = sum(1 for row in self._table["rows"] for c in row
                                          if c[0] == "th" and not c[2].strip())
            self.tables.append(self._table)
            self._table = self._section = None
        elif tag in ("th", "td"):
            self._cell = None
        elif tag in ("thead", "tbody", "caption"):
            self._section = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._table is not None and self._section == "caption":
            self._table["caption"] += data
        if self._cell is not None:
            self._cell[2] += data


def _page(path_or_html) -> _Page:
    page = _Page()
    page.feed(path_or_html if isinstance(path_or_html, str) else path_or_html.read_text(encoding="utf-8"))
    page.text = " ".join(" ".join(page.text).split())
    return page


def test_every_image_has_a_text_alternative_with_the_figures_numbers(study, validation):
    r, paths = study
    page = _page(paths["html"])
    assert len(page.alts) >= 12
    for alt in page.alts + _page(validation[1]["html"]).alts:
        assert alt and alt.lower() not in BARE and len(alt) > 60 and re.search(r"\d", alt), alt
    t = r["test"]
    auc = f"AUC {t['auc']:.3f} (95 % CI {t['auc_ci95'][0]:.3f}–{t['auc_ci95'][1]:.3f})"
    assert any(alt.startswith("ROC curve") and auc in alt for alt in page.alts)
    assert any(alt.startswith("Calibration") and f"Brier score {t['brier']:.3f}" in alt for alt in page.alts)
    importance = next(alt for alt in page.alts if "permutation importance" in alt)
    for row in r["importance"]:
        assert f"{row['group']} {row['importance_mean']:.3f}" in importance
    readiness = next(alt for alt in page.alts if "clinical-only" in alt)
    assert f"{r['readiness']['auc']['combined']['mean']:.3f}" in readiness
    v = validation[0]
    shift = next(alt for alt in _page(validation[1]["html"]).alts if "standardised mean difference" in alt)
    for row in v["shift"]:
        assert f"{row['input']} {row['smd']:+.2f}" in shift
    assert "(shifted, hatched)" in shift


def test_the_alt_texts_of_the_resampled_selection_figures_carry_their_numbers():
    # the nested and selection-frequency figures need the slow resampled selections: their sentences from results
    from scintiml.report.writer import figure_alts

    r = {"test": {"auc": 0.75}, "nested": {"auc": 0.786, "auc_ci95": [0.671, 0.901], "baselines": {
        "random_forest": {"auc": 0.795, "auc_ci95": [0.725, 0.865]}}},
        "selection": {"stability": {"threshold": 0.55, "stable_inputs": ["ef"], "runs": [{}] * 20, "frequencies": [
            {"input": "ef", "n_selected": 20, "frequency": 1.0},
            {"input": "age", "n_selected": 3, "frequency": 0.15}]}}}
    alts = figure_alts(r)
    assert "network 0.786 (0.671–0.901); random forest 0.795 (0.725–0.865)" in alts["nested"]
    assert "20 resampled selections" in alts["selection_frequency"] and "age 0.15" in alts["selection_frequency"]


def test_the_calibration_and_importance_numbers_are_in_the_text(study):
    from scintiml.report.writer import render_html

    r, paths = study
    text = _page(paths["html"]).text
    t = r["test"]
    assert (f"Brier score {t['brier']:.3f}, calibration slope {t['calibration_slope']:.2f}, "
            f"calibration intercept {t['calibration_intercept']:.2f}") in text
    for row in r["importance"]:
        assert f"{row['group']} {row['importance_mean']:.3f} (SD {row['importance_sd']:.3f})" in text
    separated = json.loads(json.dumps(r))
    separated["test"]["calibration_slope"] = separated["test"]["calibration_intercept"] = None
    text = _page(render_html(separated, images={})).text
    assert "calibration slope not estimable, calibration intercept not estimable" in text


def test_alt_texts_are_escaped(study, validation):
    from scintiml.external.report import _render_html
    from scintiml.report.writer import render_html

    hostile = 'x" onload="alert(1)<b>'
    r = json.loads(json.dumps(study[0]))
    r["importance"][0]["group"] = hostile
    v = json.loads(json.dumps(validation[0]))
    v["shift"][0]["input"] = hostile
    for page in (render_html(r, images={}), _render_html(v, {"input_shift": "iVBORw0KGgo="})):
        assert hostile not in page and 'onload="alert' not in page
        assert any(hostile in alt for alt in _page(page).alts)  # whole, once unescaped


def test_every_table_has_a_caption_a_header_row_and_row_headers(study, validation):
    pages = [_page(study[1]["html"]), _page(validation[1]["html"])]
    tables = [t for p in pages for t in p.tables]
    assert len(tables) >= 6
    for table in tables:
        assert table["caption"].strip() and table["thead"], table
        assert table["col_headers"] and set(table["col_headers"]) == {"col"}, table
        assert table["empty_th"] == 0, table
        for row in table["rows"][1:]:  # the first cell of a body row names it
            assert row[0][0] == "th" and row[0][1] == "row", (table["caption"], row)
    for template in ("report.html.j2", "validate.html.j2"):  # tables only some studies print, too
        source = (TEMPLATES / template).read_text(encoding="utf-8")
        assert source.count("<table") == source.count("<caption>") == source.count("<thead>") > 0
        assert "<th></th>" not in source


def _luminance(colour: str) -> float:
    from matplotlib.colors import to_rgb

    from scintiml.report.figures import _luminance as relative_luminance  # the WCAG formula the figures use

    return relative_luminance(to_rgb(colour))


def test_the_footer_is_readable_and_names_the_study(study, validation):
    for path in (study[1]["html"], validation[1]["html"]):
        page = path.read_text(encoding="utf-8")
        footer = re.search(r"@bottom-center\s*\{([^}]*)\}", page).group(1)
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", footer).group(1)
        assert (1.05 / (_luminance(colour) + 0.05)) >= 4.5, colour  # on the white page, WCAG AA
        assert "string(doc)" in footer and re.search(r"h1\s*\{[^}]*string-set:\s*doc content\(\)", page)


def test_the_validation_binary_tests_are_named_in_words(validation):
    from scintiml.report.writer import TESTS

    page = _page(validation[1]["html"])
    table = next(t for t in page.tables if "Binary tests" in t["caption"])
    names = [row[0][2].strip() for row in table["rows"][1:]]
    labels = dict(TESTS)
    assert names == [labels[k] for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "lr_positive",
                                         "lr_negative") if k in validation[0]["performance"]["tests"]]
    assert not {"ppv", "npv", "lr_positive", "lr_negative"} & set(names)


def test_the_validation_figures_read_in_greyscale(validation):
    import matplotlib

    from scintiml.external.report import _STYLE, _figures

    with matplotlib.rc_context(_STYLE):
        figures = _figures(validation[0])
    styles = {line.get_label(): line.get_linestyle() for line in figures["decision_curve"].axes[0].get_lines()}
    assert styles["treat all"] == "-." and styles["treat none"] == ":" and styles["model"] == "-"
    ax = figures["input_shift"].axes[0]
    shifted = [row for row in validation[0]["shift"] if row.get("shifted")]
    assert shifted  # the VA patients differ from Cleveland's
    assert sum(bar.get_hatch() == "//" for bar in ax.patches) == len(shifted)
    assert "hatched" in ax.get_xlabel()


def test_the_pdfs_are_tagged_for_screen_readers(study, validation):
    try:
        import weasyprint
        from weasyprint import HTML  # noqa: F401  (the import is what fails where pango is missing)
    except (ImportError, OSError) as exc:
        pytest.skip(f"WeasyPrint cannot start here (the pango library is missing?): {exc}")
    from pypdf import PdfReader

    from scintiml.report.writer import pdf_options

    if not pdf_options(weasyprint):  # pyproject allows WeasyPrint 62; its option to tag came after v65
        pytest.skip(f"WeasyPrint {weasyprint.__version__} has no pdf_tags option: the PDF is written untagged")

    for written, name in ((study[1], study[0]["dataset"]["name"]), (validation[1], "cleveland on va")):
        reader = PdfReader(written["pdf"])
        root = reader.trailer["/Root"]
        assert "/StructTreeRoot" in root, written["pdf"]
        alts, todo = [], [root["/StructTreeRoot"]]
        while todo:  # the structure tree's figures carry the images' alt texts
            node = todo.pop().get_object()
            if isinstance(node, list):
                todo.extend(node)
            elif hasattr(node, "get"):
                if node.get("/S") == "/Figure" and "/Alt" in node:
                    alts.append(str(node["/Alt"]))
                if node.get("/K") is not None:
                    todo.append(node["/K"])
        assert any(alt.startswith("ROC curve of the") and "AUC 0." in alt for alt in alts), alts
        for page in reader.pages:  # a loose page says which study it belongs to
            assert name in " ".join(page.extract_text().split())


def test_not_assessed_readiness_says_how_to_give_groups_in_every_way_the_report_is_made(study):
    # the demo's report told its reader to use --groups, which `scintiml demo` does not take
    from scintiml.report.writer import render_html

    r = json.loads(json.dumps(study[0]))
    r["readiness"] = None
    text = " ".join(_page(render_html(r, images={})).text.split())
    assert "Not assessed: the cohort has no imaging and clinical input groups." in text
    ways = ("scintiml study TABLE --groups FILE", "the app's new-study page", "scintiml demo --cohort heart-disease")
    for way in ways:
        assert way in text, way

"""Run tests/test_cnn_nearcopies.py against a mutated copy of the code (in memory only: no file is edited)."""
import importlib.util, sys, types
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "src"))
ROOT = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "src", "scintiml", "cnn", "")

MUTATIONS = {
    "no near search": [("copies.py", "    near = [(i, j, s) for i, j, s in near_copies(counts, ids, threshold)",
                        "    near = [(i, j, s) for i, j, s in near_copies(counts, ids, threshold)][:0] + [(i, j, s) for i, j, s in []")],
    "threshold 0.1": [("copies.py", "NEAR_COPY_THRESHOLD = 0.30", "NEAR_COPY_THRESHOLD = 0.10")],
    "fingerprint uses the other studies": [("copies.py", "            f = f - f.mean(axis=2, keepdims=True)\n",
                                            "            f = f - f.mean(axis=2, keepdims=True) - f.mean(axis=(0, 2), keepdims=True)\n")],
    "no small-view guard": [("copies.py", "    if min(counts.shape[2:]) < FINGERPRINT_GRID:\n        return []\n", "")],
    "cells by pixel index, not field of view": [("copies.py", "    edges = (np.arange(grid + 1) + phase) * (size / grid)",
                                                 "    edges = (np.arange(grid + 1) + phase) * 2.0")],
    "hand split: near copies not checked": [("train.py", "    for i, j, s in copies.near:  # pair by pair",
                                             "    for i, j, s in copies.near[:0]:  # pair by pair")],
    "cnn train searches twice": [("workflow.py", "split=split, copies=copies, protocol=protocol,",
                                  "split=split, protocol=protocol,")],
    "near copies not merged in the split": [("train.py", "_with_copies_merged(ids, copies.groups(), len(counts))",
                                             "_with_copies_merged(ids, copies.exact, len(counts))")],
}


def load(name, source):
    full = f"scintiml.cnn.{name[:-3]}"
    spec = importlib.util.spec_from_file_location(full, ROOT + name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    exec(compile(source, ROOT + name, "exec"), module.__dict__)


which = sys.argv[1]
import scintiml  # noqa: the parent package, without scintiml.cnn
changes = MUTATIONS[which]
order = ["copies.py", "train.py", "workflow.py"]
touched = {f for f, _, _ in changes}
sources = {f: open(ROOT + f).read() for f in order}
for f, old, new in changes:
    assert old in sources[f], (which, old)
    sources[f] = sources[f].replace(old, new)
# load the mutated modules (and those importing them) before the package imports the originals
import types as _t
pkg_spec = importlib.util.spec_from_file_location("scintiml.cnn", ROOT + "__init__.py", submodule_search_locations=[ROOT[:-1]])
pkg = importlib.util.module_from_spec(pkg_spec)
sys.modules["scintiml.cnn"] = pkg
for f in order:
    if f in touched or (f == "workflow.py" and touched & {"train.py", "copies.py"}) or (f == "train.py" and "copies.py" in touched):
        load(f, sources[f])
pkg_spec.loader.exec_module(pkg)
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-x" if False else "-q", __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "tests", "test_cnn_nearcopies.py"),
                      "-W", "ignore::pytest.PytestAssertRewriteWarning"] + sys.argv[2:]))

"""Model bundles: one folder format (:mod:`.format`) for every model; the tabular network's bundle (:mod:`.tabular`)."""

from .card import card_markdown, model_card
from .format import BundleFolder, read_bundle, sha256_file, write_bundle
from .predict import PredictionRun, predict_file
from .tabular import Bundle, load_bundle, save_bundle

__all__ = ["BundleFolder", "read_bundle", "write_bundle", "sha256_file", "Bundle", "load_bundle", "save_bundle",
           "model_card", "card_markdown", "predict_file", "PredictionRun"]

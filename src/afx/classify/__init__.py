"""Classifiers: turn a finished transcript into labels (compliance, AF, unmonitored reasoning)."""

from afx.classify.base import Classifier, build_classifier

__all__ = ["Classifier", "build_classifier"]

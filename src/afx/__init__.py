"""afx: is alignment-faking reasoning what causes the compliance gap? (Greenblatt et al. 2024, Sec. 3.3.4)."""

__version__ = "0.1.0"

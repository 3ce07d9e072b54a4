"""afx: is alignment-faking reasoning what causes the compliance gap? (Greenblatt et al. 2024, Sec. 3.3.4)."""

from afx.run_dirs import register as _register_resolvers

__version__ = "0.1.0"

_register_resolvers()  # ${afx_stamp:} in the Hydra run/sweep dirs, before Hydra composes the config

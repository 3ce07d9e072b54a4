"""afx summary plugin: Figures 13-16 from any set of afx runs (Hydra callback + `afx summary`)."""

"""Experiment configs: one ml_collections file per experiment, each deriving from base.py."""

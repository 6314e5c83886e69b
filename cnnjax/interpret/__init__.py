"""Visualisation and interpretability."""

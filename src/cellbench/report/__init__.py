"""Aggregation of result files, statistics over seeds and models, plots and MultiQC content."""

"""Metrics: one per module, arrays in, float (or per-cell array) out. No file I/O here."""

"""Tasks: pure functions from arrays and labels to a list of MetricResult. No file I/O here."""

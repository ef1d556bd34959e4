"""Everything that touches files: reading datasets and representations, writing results atomically."""

"""cellbench: score single-cell foundation model outputs on the cz-benchmarks task suite."""

__version__ = "0.1.0"

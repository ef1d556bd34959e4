"""Models run inside cellbench: the built-in runners (harmony, scVI) and the container output contract.

A runner turns a dataset's counts into an embedding (`harmony.py`, `scvi.py`); a model in a container
writes its own raw output, which `contract.py` checks and aligns to the dataset's cells. Either way the
result is the same: a float32 cells x d embedding in the dataset's cell order plus the provenance record
of `provenance.py`, written by `cellbench.io.model_output`. Arrays in, arrays and records out: this
package reads and writes no file (io does), and imports nothing above metrics.
"""

"""Tasks: functions from arrays and labels to a TaskOutcome (metric results and the params that ran).

No file I/O here: commands load inputs through `cellbench.io` and write the outcome with
`cellbench.io.results.write_task_result`. `registry.py` lists the tasks, their columns and metrics.
"""

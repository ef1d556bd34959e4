"""The one exception a user's input can cause.

Tasks and io raise `InputError` with a one-line message naming the file and the column or row;
the CLI turns it into `Error: <message>` and a non-zero exit, with no traceback.
"""


class InputError(ValueError):
    """Bad input the user can fix: one line, naming the file and the column/row."""

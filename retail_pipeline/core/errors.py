"""What a failed Dagster step says, in one line (its error info, read without importing Dagster)."""


def root_cause(error) -> str:
    """The innermost error message: Dagster wraps the user's exception in its own step errors."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()

"""What a reference API may answer that is not data: one error type shared by the payload parsers.
"""

from __future__ import annotations


class PayloadError(ValueError):
    """A 2xx body that is not the data it should be (bad JSON, wrong shape or types, dates out of range)."""

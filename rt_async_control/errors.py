"""Errors that mean "the user gave bad input", reported as one line with exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input at start-up: a file, a parameter, a model or a name that does not fit.

    It is a ``ValueError`` so config validation can be caught as one; the message is a single
    line that names the offending field or file and the bad value.
    """

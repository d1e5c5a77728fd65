"""The one exception a user can act on: what is wrong and where, printed as a single line."""


class BundleError(Exception):
    """Input that cannot be analysed at all (missing, unreadable, nothing usable in it)."""

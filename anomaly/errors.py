"""The few exception types the whole package raises.

The CLI maps them to exit codes: ``BadInput`` (and its children) → 2, ``SourceError`` → 1 for the
symbols it hit. Every message is meant to be printed as one line to a user, so it names the file,
row, column or key that is wrong and never relies on a traceback for meaning.
"""


class AnomalyError(Exception):
    """Base class: something the user should read as one line."""


class BadInput(AnomalyError):
    """Input the user can fix: a bad file, argument, symbol, date or config key."""


class UnknownSymbol(BadInput):
    """A symbol or name that does not resolve to any A-share stock or index."""


class ConfigError(BadInput):
    """A configuration file that is malformed or names an unknown/invalid key."""


class SourceError(AnomalyError):
    """A data source failed (network, blocked, changed schema, empty answer)."""


class SchemaChanged(SourceError):
    """An upstream frame no longer has the columns the adapter maps."""


class StoreLocked(AnomalyError):
    """Another process holds the store's write lock (e.g. two scans at once)."""

"""Errors a person can act on. The CLI prints them as one line; the API maps them to 4xx/5xx."""

from __future__ import annotations


class SemsearchError(Exception):
    """Base class: every expected failure of the engine derives from this."""


class ConfigError(SemsearchError):
    """A config file or override is invalid; the message names the key."""


class IndexNotFound(SemsearchError):
    """No built index exists where one was expected."""


class IndexBusy(SemsearchError):
    """Another process is writing this index right now."""


class ModelMismatch(SemsearchError):
    """The index was built with a different embedder than the one configured."""


class DocumentError(SemsearchError):
    """A document could not be read; the indexer skips it with a warning."""


class QueryError(SemsearchError):
    """A query or its parameters are invalid (empty, too long, k out of range, bad filter)."""


class NotFound(SemsearchError):
    """A requested document or job does not exist."""


class ChunkingChanged(SemsearchError):
    """The chunking settings differ from the ones the index was built with."""

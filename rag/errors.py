"""User-facing errors: one family, messages that say what to do next.

Library exceptions are translated into these in the adapter that calls the
library; the CLI and the UI turn them into a one-line message (exit code 2).
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: the message is written for the user and says what to do."""


class InputError(RagError):
    """The user gave something unusable: an empty question, a missing path."""


class NoDocumentsError(RagError):
    """A folder held no file the app can read."""


class IndexMissingError(RagError):
    """No index exists where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was built differently (format, embedding model)."""


class IndexCorruptError(RagError):
    """The index on disk cannot be read."""


class ModelError(RagError):
    """A model file is missing, unreadable or not a model."""


class ContextOverflowError(RagError):
    """The question alone does not fit the model's context window."""


class StoreUnavailableError(RagError):
    """The index store (a Milvus server) or the embeddings server cannot be reached."""


class IndexBusyError(RagError):
    """Another writer (on another machine) changed the library while this sync ran."""


class StoreRefusedError(RagError):
    """The index store was reached but refused the work (a value over its limits)."""

"""The versions of the app and the libraries its figures depend on, to tie a result to its set."""

from __future__ import annotations

from importlib import metadata

# The libraries whose versions change answers or speed (issue: lock the dependency set).
KEY_LIBRARIES = ("offline-rag", "llama-cpp-python", "sentence-transformers", "faiss-cpu", "torch",
                 "gradio")


def library_versions() -> dict[str, str]:
    """{distribution: version} of the key libraries; "not installed" for one that is missing."""
    found = {}
    for name in KEY_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found

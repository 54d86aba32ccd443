"""Adapters around sentence-transformers and FAISS: strings, arrays and integer ids only."""

"""Adapters around the models (sentence-transformers, an embeddings server) and the stores
(FAISS, BM25, Milvus): strings, arrays and integer ids only."""

"""Indexer: turns documents into a searchable, versioned index directory.

Owns configuration, document loading, chunking, embedding, the SQLite store, the FAISS
index and the atomic on-disk layout. Nothing here imports `search` or `web`.
"""

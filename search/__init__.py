"""Search: how a built index is queried (semantic, keyword, hybrid), filtered and snippeted.

Depends on `indexer` for the on-disk format and the embedder; knows nothing of HTTP.
"""

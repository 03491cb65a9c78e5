"""The `semsearch` application: the command line that composes indexer, search and web."""

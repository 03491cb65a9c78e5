"""The embedding space as a tool: topics, a 2-D map, near-duplicates, outliers, classification.

Everything here reads one open generation (IndexSnapshot) and works on document vectors: the
normalised mean of a document's chunk vectors (docvectors.py).
"""

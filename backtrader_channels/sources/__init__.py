"""Historical sources: files streamed as columnar chunks (see chunks.py)."""

"""Media helpers: facts of media files (probe) and provenance written into them (embed)."""

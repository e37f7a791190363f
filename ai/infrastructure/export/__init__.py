"""Dataset export formats (multi_format) and atomic file writes."""

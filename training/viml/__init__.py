"""ViML: video and text fused into one query that retrieves music in a shared embedding space."""

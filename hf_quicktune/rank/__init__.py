"""Zero-training ranking of candidate models (issue 5): features + cache, scores, ensemble."""

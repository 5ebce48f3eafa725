"""hf-quicktune: which pretrained vision model to fine-tune, and how.

The package is light to import: every stage (data, zoo, rank, estimate, search, train,
publish) imports its heavy dependencies (torch, timm, datasets, transformers) lazily.
"""

__version__ = "0.1.0"

"""Export the winning trial, write its model card, and push everything to the Hub in one commit.

- :func:`~hf_quicktune.publish.export.export_timm_model`: ``model.safetensors`` + timm ``config.json``
- :func:`~hf_quicktune.publish.card.build_model_card`: ``README.md`` (``ModelCard``/``ModelCardData``)
- :func:`~hf_quicktune.publish.push.push_to_hub`: one ``create_commit``, retried with backoff
"""

from __future__ import annotations

from hf_quicktune.publish.card import CardInfo, build_model_card
from hf_quicktune.publish.export import export_timm_model
from hf_quicktune.publish.push import push_to_hub, redact

__all__ = ["CardInfo", "build_model_card", "export_timm_model", "push_to_hub", "redact"]

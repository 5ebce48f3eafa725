"""A Hugging Face Hub-compatible HTTP server for tests (see ``server`` for the endpoint list).

Start one with :class:`LocalHub` (``with LocalHub(root, port) as hub: ...``), through the
``hub`` pytest fixture, or standalone: ``python -m tests.hubserver --port 8080 --root /tmp/hub``.
"""

from .server import HubHTTPServer, LocalHub
from .storage import LFS_SIZE_THRESHOLD, HubError, Storage

__all__ = ["LFS_SIZE_THRESHOLD", "HubError", "HubHTTPServer", "LocalHub", "Storage"]

"""A Hugging Face Hub-compatible HTTP server for tests (see ``server`` for the endpoint list).

Start one with :class:`LocalHub` (``with LocalHub(root, port=0, token=...) as hub: ...``), through
the session fixture ``hub`` of ``tests/conftest.py``, or standalone:
``python -m tests.hubserver --port 8080 --root /tmp/hub``.

Conventions: the token is the only accepted credential (``whoami`` answers user ``qt-tester``,
member of org ``qt-org``); any namespace may be written to; repos start with the Hub's initial
commit holding ``.gitattributes``; every commit gets a new 40-hex id and moves its branch.
Not reproduced: Xet storage, multipart LFS uploads, discussions/PR pages, gated access requests,
the dataset viewer (``/parquet``, ``refs/convert/parquet``), Spaces runtime, Inference.
"""

from .server import HubHTTPServer, LocalHub
from .storage import LFS_SIZE_THRESHOLD, HubError, Storage

__all__ = ["LFS_SIZE_THRESHOLD", "HubError", "HubHTTPServer", "LocalHub", "Storage"]

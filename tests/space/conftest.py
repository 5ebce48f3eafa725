"""The Space app (space/app.py) served in-process on 127.0.0.1 against the local Hub, for gradio_client and
browser tests. Runs go to the test's temp dir; the offline zoo needs no network."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

SPACE_DIR = Path(__file__).resolve().parents[2] / "space"
#: a search that fits the suite: 32 px, 64 training images per epoch, 3 epochs in all (the budget is only a
#: ceiling, so a loaded CI machine gets the same search, later); ~30 s on 2 idle CPU cores
TINY = {"dataset": "builtin:digits", "zoo": "offline", "budget": "3m", "image_size": 32, "train_limit": 64,
        "max_epochs": 10, "seed": 0, "max_epochs_total": 3}
SEARCH_ARGS = [TINY[k] for k in ("dataset",)] + [None] + [TINY[k] for k in (
    "zoo", "budget", "image_size", "train_limit", "max_epochs", "seed", "max_epochs_total")]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def space_app(hub, session_tmp):
    """(url, app module): the Space running on a free port (its runs under the session temp dir)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("QUICKTUNE_SPACE_DIR", str(session_tmp / "space-runs"))
    mp.delenv("SPACE_ID", raising=False)
    sys.path.insert(0, str(SPACE_DIR))
    import app  # space/app.py

    port = _free_port()
    demo = app.build_app()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", app
    finally:
        demo.close()
        sys.path.remove(str(SPACE_DIR))
        mp.undo()


@pytest.fixture(scope="session")
def client(space_app):
    from gradio_client import Client

    return Client(space_app[0], verbose=False)

"""Run the local Hub standalone: ``python -m tests.hubserver --port 8080 --root /tmp/hub``.

Then point clients at it with ``HF_ENDPOINT=http://127.0.0.1:8080 HF_HUB_DISABLE_XET=1
HF_TOKEN=<the --token value>``. Requests are logged to stderr.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from .server import LocalHub


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hubserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--root", type=Path, default=None, help="storage directory (default: a new temp dir)")
    parser.add_argument("--token", default="hf_dummy_test_token_0123456789abcdef",
                        help="the only token accepted (same default as tests/conftest.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(message)s")
    root = args.root or Path(tempfile.mkdtemp(prefix="local-hub-"))
    hub = LocalHub(root, port=args.port, token=args.token, host=args.host)
    print(f"Local Hub on {hub.endpoint} (storage: {root}); Ctrl-C to stop", flush=True)
    try:
        hub.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.server.server_close()


if __name__ == "__main__":
    main()

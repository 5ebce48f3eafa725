"""Joining Ray: the optional import, Ray Client's token, and ``--ray-address`` checked and joined.

:mod:`hf_quicktune.run.ray_executor` runs the trials on what these join; ``hf-quicktune run`` asks
:func:`check_available` at start-up.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from hf_quicktune.errors import ConfigError

logger = logging.getLogger(__name__)


def check_available() -> None:
    """Raise the :func:`import_ray` error now, without importing Ray, when it is not installed (start-up check)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        import_ray()


def _ray_token_available() -> bool:
    """A Ray authentication token on this machine, where Ray looks for one (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``)."""
    from pathlib import Path

    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def client_auth_env(address: str | None) -> None:
    """Ray Client (``ray://``) sends no token unless ``RAY_AUTH_MODE=token``, while clusters started by Ray >= 2.5x
    require one by default: the connection then times out or the server aborts it, with no word about
    authentication. When the mode is not set and this machine has a token, turn token mode on (before Ray is
    imported: Ray reads the mode once). ``RAY_AUTH_MODE=disabled`` keeps it off."""
    if address and address.startswith("ray://") and "RAY_AUTH_MODE" not in os.environ and _ray_token_available():
        os.environ["RAY_AUTH_MODE"] = "token"
        logger.info("Ray Client: sending this machine's Ray token (RAY_AUTH_MODE=token)")


#: what a Ray Client proxy answers when the server it starts for this connection died at once (seen on a loaded
#: 2-core machine: the proxy forks it while gRPC threads run; it reports the dead server after its channel
#: timeout, or, when it finds the process already a zombie, with the traceback of ``start_specific_server``);
#: a new connection starts a new server
CLIENT_SERVER_FAILED = ("Starting Ray client server failed", "start_specific_server")
#: connection attempts when the failure is that one (any other failure is the user's to fix at once)
JOIN_TRIES = 3


#: seconds a TCP connection to ``--ray-address``'s host and port may take before the run says nothing answers there
#: (``ray.init`` on an address where nothing listens retries for minutes, printing Ray's connection warnings)
CONNECT_TIMEOUT_S = 10.0


def address_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``--ray-address`` of the form ``HOST:PORT`` (the head's GCS) or ``ray://HOST:PORT`` (its Ray
    Client server; ``[v6]:PORT`` too); None for ``auto`` and anything without a port (Ray resolves those itself)."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float | None = None) -> None:
    """Raise a usage error at once when nothing accepts a TCP connection at ``--ray-address``'s host and port (a
    typo, a cluster that is down, a firewall), instead of ``ray.init``'s minutes of retries."""
    import socket

    endpoint = address_endpoint(address)
    if endpoint is None:
        return
    timeout = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        socket.create_connection(endpoint, timeout=timeout).close()
    except OSError as err:
        what = "timed out" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise ConfigError(
            f"could not join the Ray cluster at --ray-address {address}: nothing accepted a connection at "
            f"{endpoint[0]}:{endpoint[1]} within {timeout:.0f} s ({what}).",
            fix="Check the address and that the cluster is up (`ray status` on its head node): HOST:6379 is the "
                "head's default GCS port, ray://HOST:10001 its Ray Client server; `auto` joins a cluster started on "
                "this machine with `ray start`.", code="ray_connect") from err


def join_cluster(ray: Any, address: str, *, tries: int = JOIN_TRIES, wait_s: float = 2.0) -> None:
    """``ray.init`` on the cluster of ``--ray-address`` once its host and port answer (:func:`check_reachable`); a
    failed connection is the user's to fix, except a Ray Client server that failed to start on the head, which is
    tried again (``tries`` in all)."""
    check_reachable(address)
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, log_to_driver=False)
            return
        except ConnectionError as err:
            if any(sign in str(err) for sign in CLIENT_SERVER_FAILED) and attempt < tries:
                logger.warning("the Ray Client server for this connection failed to start on %s; connecting again "
                               "(%d of %d)", address, attempt + 1, tries)
                ray.shutdown()
                time.sleep(wait_s * attempt)
                continue
            raise ConfigError(
                f"could not join the Ray cluster at --ray-address {address}: {err}",
                fix="Check that the cluster is up (`ray status` on its head node) and the address: `auto` joins a "
                    "cluster started on this machine with `ray start`, `ray://HOST:10001` its Ray Client server. "
                    "A cluster with token authentication (the default since Ray 2.5x) needs its token here: "
                    "RAY_AUTH_MODE=token plus RAY_AUTH_TOKEN or ~/.ray/auth_token.",
                code="ray_connect") from err


def import_ray(address: str | None = None) -> Any:
    client_auth_env(address)
    try:
        import ray
    except ImportError:
        raise ConfigError("--workers > 1 and --ray-address run trials on Ray, which is not installed.",
                          fix='Install it with `pip install "hf-quicktune[ray]"`, or drop --workers/--ray-address '
                              "to train one trial at a time in this process.", code="ray_missing") from None
    return ray

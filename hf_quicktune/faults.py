"""Fault injection for the reliability tests: kill this process at a named point of its life.

``HF_QUICKTUNE_FAULT=point:n[:SIGNAL[:delay]]`` (read once, at import) sends SIGNAL (``KILL``
default, or ``INT`` = Ctrl-C) to this process the ``n``-th time :func:`point` is called with that
name (``ENOSPC`` instead of a signal raises the OSError of a full disk there); with ``delay`` (seconds)
a timer sends it that long after the point is reached, so the kill lands in the middle of whatever
follows (e.g. the zero-cost ranking). Unset, :func:`point` is one
dictionary lookup. Points (see tests/run/test_faults.py for what each kill checks; ``trial_file.write``'s full
disk: tests/train/test_trial_file.py):
``rank``, ``train.step``, ``checkpoint.write``, ``trial_file.write``, ``best.write``, ``curve.append``,
``optimizer.write``, ``steps.append``, ``export.write``, ``push``.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("HF_QUICKTUNE_FAULT") or None
_counts: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, int, int | None, float]:
    parts = spec.split(":")
    name, n = parts[0], int(parts[1]) if len(parts) > 1 else 1
    name_of_signal = parts[2].upper() if len(parts) > 2 and parts[2] else "KILL"
    sig = None if name_of_signal == "ENOSPC" else getattr(signal, f"SIG{name_of_signal}")
    delay = float(parts[3]) if len(parts) > 3 else 0.0
    return name, n, sig, delay


def point(name: str) -> None:
    """Mark a point of the run's life where the tests may kill the process."""
    if _SPEC is None:
        return
    target, n, sig, delay = _parse(_SPEC)
    if name != target:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] != n:
        return
    if sig is None:
        import errno

        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")
    if delay > 0:
        import threading

        timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
        timer.daemon = True
        timer.start()
        return
    signal.raise_signal(sig)

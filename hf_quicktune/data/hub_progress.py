"""Progress of a Hub dataset's download and of its conversion to Arrow, told to the caller's ``progress`` (the
run's reporter, ``finetune``'s status line): ``datasets`` shows its own bars only where a library leaves them on,
and a run's first minutes on a large dataset were silent.

A thread watches the bytes landing in the repo's folder of the Hugging Face cache (finished blobs and
``.incomplete`` ones) against the bytes of the repo's data files not yet there (one listing of the repo, by the
same thread: a repo of a million images takes a while to list, the download starts meanwhile); then the bytes of
the Arrow files datasets writes (its ``*.incomplete`` folders) against those of the data files."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: seconds between two reports
INTERVAL_S = 1.0
#: files of a repo that no load reads
_NOT_DATA = ("README.md", ".gitattributes")
#: paths asked about in one paths-info request, and the most such requests before a listing of the repo is cheaper
_PATHS_PER_REQUEST = 500
_PATHS_REQUESTS = 10


def _blobs(spec: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"datasets--{spec.replace('/', '--')}" / "blobs"


def _folder_bytes(folder: Path) -> int:
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size
    except OSError:  # not created yet
        pass
    return total


def _names(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder)}
    except OSError:
        return set()


def _to_fetch(spec: str, revision: str | None, files: list[str] | None, cached: set[str]) -> tuple[int, int]:
    """Bytes of the repo's data files (``files``: those paths only, asked for by path, not found in a listing of
    the whole repo) whose blobs were not ``cached``, and of all of them."""
    from huggingface_hub import HfApi

    api = HfApi()
    wanted = None if files is None else set(files)
    if files is None or len(files) > _PATHS_REQUESTS * _PATHS_PER_REQUEST:  # a listing's pages hold as many
        entries: Iterable[Any] = api.list_repo_tree(spec, repo_type="dataset", revision=revision, recursive=True)
    else:  # the shards a draw read, the shard counted: a few requests where a listing of ImageNet's takes many
        entries = (entry for start in range(0, len(files), _PATHS_PER_REQUEST)
                   for entry in api.get_paths_info(spec, files[start:start + _PATHS_PER_REQUEST], repo_type="dataset",
                                                   revision=revision))
    fetch = every = 0
    for entry in entries:
        size = getattr(entry, "size", None)
        if size is None or entry.path.split("/")[-1] in _NOT_DATA or entry.path.startswith("."):
            continue
        if wanted is not None and entry.path not in wanted:
            continue
        blob = entry.lfs.sha256 if getattr(entry, "lfs", None) else entry.blob_id
        every += int(size)
        if blob not in cached:
            fetch += int(size)
    return fetch, every


def _arrow_bytes(name: str | None = None) -> int:
    """Bytes datasets has written of the Arrow files it is preparing (its ``*.incomplete`` folders): of the
    dataset cached as ``name`` (a Hub dataset's ``org___name``), or of any (a local folder's is named after it)."""
    import datasets.config

    root = Path(datasets.config.HF_DATASETS_CACHE)
    folders = (root / name).glob("*/*/*.incomplete") if name else root.glob("*/*/*/*.incomplete")
    return sum(_folder_bytes(folder) for folder in folders if folder.is_dir())


def _unit(total: int | None) -> tuple[str, int]:
    return ("MB", 1_000_000) if total is None or total >= 10_000_000 else ("kB", 1000)


@contextlib.contextmanager
def _watching(report: Callable[[], None], before: Callable[[], None] | None = None) -> Iterator[None]:
    """Call ``report`` every :data:`INTERVAL_S` seconds from a thread while the body runs (``before`` first, in
    that thread). A reporter asking to stop (the Space's Stop: ``KeyboardInterrupt`` from ``progress``) is raised
    here once the body returns: the watcher's thread cannot interrupt the loading one."""
    stop = threading.Event()
    raised: list[BaseException] = []

    def watch() -> None:
        if before is not None:
            try:
                before()
            except Exception:  # the load says what is wrong; a bar without a total meanwhile
                logger.debug("progress set-up failed", exc_info=True)
        while not stop.wait(INTERVAL_S):
            try:
                report()
            except Exception:
                logger.debug("progress failed", exc_info=True)
                return
            except BaseException as err:
                raised.append(err)
                return

    thread = threading.Thread(target=watch, name="load-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5.0)
    if raised:
        raise raised[0]


@contextlib.contextmanager
def download_progress(spec: str, revision: str | None, progress: Callable[..., None] | None,
                      files: list[str] | None = None) -> Iterator[None]:
    """Report ``downloading SPEC (MB): done/total`` to ``progress(task, done, total, images)`` while the body
    downloads the Hub dataset ``spec`` (``files``: the paths in the repo it reads, when not all of them), then
    ``writing SPEC as Arrow (MB)`` while datasets converts the files (about as many bytes as they hold)."""
    if progress is None:
        yield
        return
    blobs = _blobs(spec)
    start, cached = _folder_bytes(blobs), _names(blobs)
    state: dict[str, Any] = {"fetch": None, "every": None, "downloaded": False}

    def listed() -> None:
        state["fetch"], state["every"] = _to_fetch(spec, revision, files, cached)

    def downloaded() -> None:
        """The download's last report (all of it), once."""
        if not state["downloaded"] and state["fetch"]:
            state["downloaded"] = True
            unit, scale = _unit(state["fetch"])
            progress(f"downloading {spec} ({unit})", round(state["fetch"] / scale), round(state["fetch"] / scale),
                     None)

    def report() -> None:
        fetch = state["fetch"]
        done = _folder_bytes(blobs) - start
        if fetch is None or done < fetch:
            if done > 0:
                unit, scale = _unit(fetch)
                progress(f"downloading {spec} ({unit})", round(done / scale),
                         None if fetch is None else round(fetch / scale), None)
            return
        downloaded()
        _arrow_report(spec, _arrow_bytes(spec.replace("/", "___")), state["every"], progress)

    with _watching(report, before=listed):
        yield
    downloaded()


def _arrow_report(name: str, written: int, total: int | None, progress: Callable[..., None]) -> None:
    if written > 0 and total:
        unit, scale = _unit(total)
        progress(f"writing {name} as Arrow ({unit})", min(round(written / scale), round(total / scale)),
                 round(total / scale), None)


@contextlib.contextmanager
def arrow_progress(name: str, files: list[str], progress: Callable[..., None] | None) -> Iterator[None]:
    """Report ``writing NAME as Arrow (MB): done/total`` while the body has datasets convert the local data
    ``files`` (a folder of parquet or WebDataset shards: tens of gigabytes take minutes), against their bytes."""
    if progress is None:
        yield
        return
    total = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
    with _watching(lambda: _arrow_report(name, _arrow_bytes(), total, progress)):
        yield

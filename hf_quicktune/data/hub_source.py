"""Reading a Hub dataset: through ``datasets.load_dataset``, or, for a repo holding its data as a download does, as a
local folder of its snapshot; offline, from the local cache only; and one paragraph when it fails."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from hf_quicktune.constants import hub_offline
from hf_quicktune.data.columns import image_extensions
from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def forced_offline(active: bool) -> Iterator[None]:
    """Use only the local cache (no retries against an unreachable Hub) while ``active``."""
    if not active:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = (hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE)
    hub_constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


#: files of a repo that datasets' module inference does not read as hf-quicktune reads them locally: tables naming
#: images beside them (read as an imagefolder of the folders' names), NumPy and HDF5 arrays (not read at all)
_RAW_TABLES = (".csv", ".tsv", ".json", ".jsonl")
_RAW_ARRAYS = (".npz", ".h5", ".hdf5", ".he5")


def raw_repo_snapshot(spec: str, revision: str | None) -> Path | None:
    """The local snapshot of the Hub dataset ``spec`` where it holds its data as a download does (no ``configs`` in
    its card, no parquet or Arrow files; a table beside images, or NumPy / HDF5 arrays): datasets reads APTOS'
    ``train.csv`` + ``train_images/`` as an imagefolder of one class, and an ``.npz`` not at all, where the folder
    is read right. None for any other repo (datasets reads it), or when the repo cannot be listed (datasets says
    why)."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    try:
        files = HfApi().list_repo_files(spec, repo_type="dataset", revision=revision)
    except Exception:  # not found, gated, offline: load_dataset's error says it in the user's terms
        return None
    suffixes = {Path(f).suffix.lower() for f in files}
    images = suffixes & set(image_extensions())
    tables = [f for f in files if Path(f).suffix.lower() in _RAW_TABLES and Path(f).stem.lower() != "metadata"]
    if suffixes & {".parquet", ".arrow"} or not ((tables and images) or suffixes & set(_RAW_ARRAYS)):
        return None
    if "README.md" in files:
        try:
            card = Path(hf_hub_download(spec, "README.md", repo_type="dataset", revision=revision)).read_text(
                encoding="utf-8", errors="replace")
        except Exception:
            return None
        if card.startswith("---") and "\nconfigs:" in card.split("\n---", 2)[0]:
            return None  # the card says how datasets reads it
    logger.info("the Hub dataset %s holds its data as a download does (%s): reading a snapshot of it as a folder",
                spec, ", ".join(sorted(tables)[:2] or sorted(suffixes & set(_RAW_ARRAYS))))
    return Path(snapshot_download(spec, repo_type="dataset", revision=revision))


def hub_error(spec: str, config: str | None, revision: str | None, err: Exception, unreachable: bool = False) -> DatasetError:
    """One paragraph for a failed Hub dataset load, from the exception types (:mod:`hf_quicktune.hub`)."""
    from datasets.exceptions import DatasetNotFoundError

    from hf_quicktune import hub

    text = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    if isinstance(err, ValueError) and not hub.is_hub_failure(err) and "config" in str(err).lower():
        # datasets reports an unknown or missing configuration as a plain ValueError naming the available ones
        return DatasetError(f"The Hub dataset '{spec}' has no configuration {config!r} or needs one ({text}).",
                            input=spec, fix="Pass a valid one with --dataset-config NAME.", code="bad_dataset_config")
    if unreachable or hub_offline():
        return DatasetError(
            f"The Hub dataset '{spec}' is not available: the Hub cannot be reached (offline mode or no "
            f"connection) and the dataset is not in the local cache ({text}).", input=spec, code="offline",
            fix="Connect once to download it, or use a local folder/file or a built-in dataset (builtin:digits, "
                "builtin:mnist5k).")
    typed = hub.is_hub_failure(err)
    if typed:  # gated, missing revision, refused token, rate limit, server error, no connection, ...
        error = hub.to_error(err, repo_id=spec, repo_type="dataset", revision=revision, action="load",
                             cls=DatasetError)
        assert isinstance(error, DatasetError)
        if error.code != "repo_not_found":
            return error
    if isinstance(err, DatasetNotFoundError) or typed:
        return DatasetError(
            f"Unknown dataset '{spec}': it is neither an existing local path nor a dataset on the Hub that this "
            f"token can read ({text}).", input=spec, code="dataset_not_found",
            fix="Pass a Hub dataset id (org/name), an ImageFolder directory, a parquet/CSV/JSON file, or a "
                "built-in (builtin:digits, builtin:mnist5k).")
    return DatasetError(
        f"The Hub dataset '{spec}' could not be loaded ({text}).", input=spec, code="bad_dataset",
        fix="Check it loads with `datasets.load_dataset`, or export it to parquet with an image and a label column.")

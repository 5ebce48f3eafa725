"""Reading a Hub dataset: through ``datasets.load_dataset``, or, for a repo holding its data as a download does, as a
local folder of its snapshot; offline, from the local cache only; and one paragraph when it fails."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hf_quicktune.constants import hub_offline
from hf_quicktune.data.archives import SUFFIXES
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


#: the branch where the Hub keeps its parquet conversion of a dataset (also of one built by a loading script)
PARQUET_CONVERSION = "refs/convert/parquet"

#: a Hub dataset named as users copy it: its page's URL (``https://huggingface.co/datasets/ORG/NAME/tree/REV``),
#: an ``hf://datasets/ORG/NAME@REV`` path, timm's ``hfds/`` / ``hfids/`` / ``wds/`` prefixes
_HUB_REFERENCES = (
    re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/datasets/(?P<id>[\w.-]+(?:/[\w.-]+)?)"
               r"(?:/(?:tree|blob|resolve)/(?P<rev>[^/?#]+))?(?:[/?#].*)?$"),
    re.compile(r"^hf://datasets/(?P<id>[\w.-]+(?:/[\w.-]+)?)(?:@(?P<rev>[^/]+))?(?:/.*)?$"),
    re.compile(r"^(?:hfds|hfids|wds)/(?P<id>[\w.-]+(?:/[\w.-]+)?)$"),
)


def hub_reference(spec: str) -> tuple[str, str | None] | None:
    """``(dataset id, revision or None)`` of a Hub dataset named by its page's URL, an ``hf://`` path or timm's
    ``hfds/`` / ``hfids/`` / ``wds/`` prefix (``hfds/beans`` is ``beans``); None for anything else (a plain id, a
    path)."""
    from urllib.parse import unquote

    for pattern in _HUB_REFERENCES:
        match = pattern.match(spec.strip())
        if match:
            rev = match.groupdict().get("rev")
            return match.group("id"), unquote(rev) if rev and rev != "main" else None
    return None


#: files of a repo that datasets' module inference does not read as hf-quicktune reads them locally: tables naming
#: images beside them (read as an imagefolder of the folders' names), NumPy and HDF5 arrays (not read at all), and
#: the archives of a download
_RAW_TABLES = (".csv", ".tsv", ".json", ".jsonl")
_RAW_ARRAYS = (".npz", ".h5", ".hdf5", ".he5")


def raw_repo_snapshot(spec: str, revision: str | None, offline: bool = False) -> Path | None:
    """The local snapshot of the Hub dataset ``spec`` where it holds its data as a download does (no ``configs`` in
    its card, no parquet or Arrow files; a table beside images, or NumPy / HDF5 arrays): datasets reads APTOS'
    ``train.csv`` + ``train_images/`` as an imagefolder of one class, and an ``.npz`` not at all, where the folder
    is read right. None for any other repo (datasets reads it), or when the repo cannot be listed (datasets says
    why). ``offline`` (the Hub unreachable): the snapshot an earlier run downloaded, if it is one."""
    from huggingface_hub import HfApi, snapshot_download

    if offline:
        try:
            local = Path(snapshot_download(spec, repo_type="dataset", revision=revision, local_files_only=True))
        except Exception:  # never downloaded so: datasets' own cache, or its error
            return None
        files = [p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()]
        return local if _raw_layout(files, lambda: (local / "README.md").read_text(errors="replace")) else None
    try:
        files = HfApi().list_repo_files(spec, repo_type="dataset", revision=revision)
    except Exception:  # not found, gated, offline: load_dataset's error says it in the user's terms
        return None

    def card() -> str:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(spec, "README.md", repo_type="dataset", revision=revision)).read_text(
            encoding="utf-8", errors="replace")

    if not _raw_layout(files, card):
        return None
    logger.info("the Hub dataset %s holds its data as a download does: reading a snapshot of it as a folder", spec)
    try:
        return Path(snapshot_download(spec, repo_type="dataset", revision=revision))
    except Exception as err:  # a failed download: one paragraph, as a failed load_dataset
        raise hub_error(spec, None, revision, err) from err


def _raw_layout(files: list[str], card: Callable[[], str]) -> bool:
    """Whether a repo of ``files`` holds its data as a download does (see :func:`raw_repo_snapshot`); ``card``:
    its README's text, read only where it matters."""
    suffixes = {Path(f).suffix.lower() for f in files}
    images = suffixes & set(image_extensions())
    tables = [f for f in files if Path(f).suffix.lower() in _RAW_TABLES and Path(f).stem.lower() != "metadata"]
    # one zip of a download (a table beside its images inside: datasets reads the images' folders as classes);
    # not .tar files, which may be WebDataset shards datasets reads itself
    packed = [f for f in files if f.lower().endswith(SUFFIXES) and not f.lower().endswith(".tar")]
    # or the images in zips (train.zip and test.zip of class folders: datasets labelled them by the repo's name and
    # failed, "Invalid string class label"; train.csv naming the images of train_images.zip: read as a CSV): the
    # archives are unpacked as a local folder's are
    archived = packed and not images
    if suffixes & {".parquet", ".arrow"} or not ((tables and images) or suffixes & set(_RAW_ARRAYS) or archived):
        return False
    if "README.md" in files:
        try:
            text = card()
        except Exception:
            return False
        if text.startswith("---") and "\nconfigs:" in text.split("\n---", 2)[0]:
            return False  # the card says how datasets reads it
    return True


def hub_error(spec: str, config: str | None, revision: str | None, err: Exception, unreachable: bool = False) -> DatasetError:
    """One paragraph for a failed Hub dataset load, from the exception types (:mod:`hf_quicktune.hub`)."""
    from datasets.exceptions import DatasetNotFoundError

    from hf_quicktune import hub

    text = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    if isinstance(err, ValueError) and not hub.is_hub_failure(err) and "config" in str(err).lower():
        # datasets reports an unknown or missing configuration as a plain ValueError naming the available ones
        listed = re.search(r"(?:available configs:|Available:)\s*\[([^\]]*)\]", str(err))
        names = re.findall(r"'([^']*)'", listed.group(1)) if listed else []
        known = f" (its configurations: {', '.join(names)})" if names else ""
        what = (f"has no configuration '{config}'{known}" if config is not None else
                f"has several configurations ({', '.join(names)}) and none is its default" if names else
                f"needs a configuration ({text})")
        return DatasetError(f"The Hub dataset '{spec}' {what}.", input=spec, code="bad_dataset_config",
                            fix=f"Pass {'one of them' if names else 'one'} with --dataset-config NAME"
                                + (f", e.g. --dataset-config {names[0]}." if names else "."))
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
    if "scripts are no longer supported" in str(err):
        return DatasetError(
            f"The Hub dataset '{spec}' is built by a loading script, which datasets no longer runs ({text}).",
            input=spec, code="dataset_script",
            fix=f"The Hub has no parquet conversion of it to read instead (--revision {PARQUET_CONVERSION}): export "
                "it to parquet with an image and a label column, or load it with an older datasets and "
                "save_to_disk, then pass that folder.")
    return DatasetError(
        f"The Hub dataset '{spec}' could not be loaded ({text}).", input=spec, code="bad_dataset",
        fix="Check it loads with `datasets.load_dataset`, or export it to parquet with an image and a label column.")


def say_imagefolder_reading(spec: str, splits: dict[str, Any], listing: Any, config: str | None,
                            revision: str | None, drawn: bool) -> None:
    """What datasets' imagefolder reading of the Hub dataset ``spec`` left out or named otherwise than a local folder
    is read: :func:`say_unlisted_images` (not where the limits drew the files: fewer rows by design) and
    :func:`say_nested_classes`."""
    if not drawn:
        say_unlisted_images(spec, splits, listing, config, revision)
    say_nested_classes(spec, splits)


def say_unlisted_images(spec: str, splits: dict[str, Any], listing: Any = None, config: str | None = None,
                        revision: str | None = None) -> None:
    """Where datasets read the Hub dataset ``spec`` as an imagefolder with metadata files (``metadata.csv``), say
    each split's images those files do not list: datasets reads only the listed ones (the others were left out in
    silence). ``listing``: the repo's data files as :func:`~hf_quicktune.data.file_draw.listed_files` found them
    (the load lists them for its split choice), listed here if None."""
    from hf_quicktune.data.file_draw import listed_files
    from hf_quicktune.data.imagefolder import is_metadata_file, warn_unlisted

    if not any(getattr(split.info, "builder_name", None) == "imagefolder" for split in splits.values()):
        return
    listing = listing or listed_files(spec, config, revision)
    for name, files in (listing.files if listing is not None else {}).items():
        if name not in splits or not any(is_metadata_file(f) for f in files):
            continue
        images = len([f for f in files if not is_metadata_file(f)])
        if len(splits[name]) < images:
            warn_unlisted(f"the {name} split of {spec}", images - len(splits[name]), images)


def say_nested_classes(spec: str, splits: dict[str, Any]) -> None:
    """Where datasets read the Hub dataset ``spec`` as an imagefolder labelled by its folders, say when the folders
    holding the images lie in two or more folders that are no split's (``cat/session1/0.png``,
    ``dog/session2/1.png``): datasets names each image's class by the folder holding it ('session1'), where
    torchvision's ImageFolder, and this tool on a local folder, take the top folder ('cat'). Which one names the
    classes, only the user knows (``partA/cat/``, ``partB/dog/`` is the other way round): said, with how to read it
    by the top folders."""
    import datasets

    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.splits import split_role

    for split in splits.values():
        label = split.features.get("label")
        if (getattr(split.info, "builder_name", None) != "imagefolder" or "image" not in split.features
                or not isinstance(label, datasets.ClassLabel)):
            continue
        above: dict[str, set[str]] = {}  # the folder above each image's folder -> those folders
        for value in column_values(split.cast_column("image", datasets.Image(decode=False)), "image"):
            path = (value or {}).get("path") or ""
            parts = re.split(r"/snapshots/[0-9a-f]{40}/", path.replace("\\", "/"), maxsplit=1)[-1].split("/")
            if len(parts) >= 3 and split_role(parts[-3]) is None:
                above.setdefault(parts[-3], set()).add(parts[-2])
        if len(above) >= 2:
            tops = sorted(above)
            shown = ", ".join(f"{t}/{sorted(above[t])[0]}/" for t in tops[:3]) + (", ..." if len(tops) > 3 else "")
            logger.warning(
                "%s holds its images in folders inside folders (%s): datasets names each image's class by the folder "
                "holding it (%s), not by the top folder (%s). If the top folders are the classes, download the "
                "repo (`hf download %s --repo-type dataset --local-dir DIR`) and pass --dataset DIR: a local folder "
                "is read by its top folders.", spec, shown, ", ".join(label.names[:4]) + (", ..." if label.num_classes > 4
                                                                                        else ""),
                ", ".join(tops[:4]) + (", ..." if len(tops) > 4 else ""), spec)
            return

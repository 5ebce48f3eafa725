"""DICOM scans without an extension (a PACS export's ``IM000001``, or files named by their UID) read where they
lie: datasets' ``imagefolder`` lists files by extension, so a folder of them is read through a copy in the cache
whose links name them ``.dcm`` (:mod:`hf_quicktune.data.dicom` then opens them as any scan)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hf_quicktune.data.archives import cached_copy
from hf_quicktune.data.dicom import is_scan_file
from hf_quicktune.data.folder_files import BARE, suffix_of

logger = logging.getLogger(__name__)


def named_scans(folder: Path) -> Path:
    """A copy of ``folder`` in the cache where its DICOM scans without an extension (a PACS export's ``IM000001``,
    or files named by their UID) are links named ``NAME.dcm``, every other file a link as it is, the folders as
    they are: read as the folder would be with the extensions given (datasets' ``imagefolder`` lists files by
    extension), the folder itself untouched. Made once per state of its files."""
    files = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    state = "|".join(f"{f.relative_to(folder)}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)

    def fill(data: Path, final: Path) -> None:
        logger.warning("%s holds DICOM scans without an extension: reading them through links named .dcm in %s "
                       "(once: later runs read them there; `hf-quicktune cache clear archives` removes it)", folder,
                       final)
        for file in files:
            rel = file.relative_to(folder)
            name = rel.name + ".dcm" if suffix_of(rel.name) == BARE and is_scan_file(file) else rel.name
            (data / rel.parent).mkdir(parents=True, exist_ok=True)
            (data / rel.parent / name).symlink_to(file.resolve())

    return cached_copy(folder, state, fill)

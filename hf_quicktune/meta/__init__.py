"""Meta-datasets (format, importers), meta-training of the Quick-Tune prior, priors on the Hub."""

from hf_quicktune.meta.format import MetaDataset, load_meta_dataset
from hf_quicktune.meta.importers import import_meta_dataset, import_qt_json, import_qtt_csv

__all__ = ["MetaDataset", "import_meta_dataset", "import_qt_json", "import_qtt_csv", "load_meta_dataset"]

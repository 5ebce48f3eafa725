import sys

from hf_quicktune.cli import main

sys.exit(main())

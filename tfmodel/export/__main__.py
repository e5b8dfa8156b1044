"""`python -m tfmodel.export RUN_DIR`: see `tfmodel.export.cli`."""

import sys

from tfmodel.export.cli import main

sys.exit(main())

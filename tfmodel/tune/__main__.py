"""`python -m tfmodel.tune`: see `tfmodel.tune.cli`."""

import sys

from tfmodel.tune.cli import main

sys.exit(main())

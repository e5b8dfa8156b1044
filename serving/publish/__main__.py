"""`python -m serving.publish RUN BASE`: see `serving.publish.cli`."""

import sys

from serving.publish.cli import main

sys.exit(main())

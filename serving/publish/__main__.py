"""`python -m serving.publish MODEL BASE`: see `serving.publish.cli`."""

import sys

from serving.publish.cli import main

sys.exit(main())

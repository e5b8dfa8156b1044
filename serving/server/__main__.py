"""`python -m serving.server`: see `serving.server.main`."""

import sys

from serving.server.main import main

sys.exit(main())

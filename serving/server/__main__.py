"""`python -m serving.server`: see `serving.server.main`."""

import os
import sys

from serving.server.main import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# A thread still inside TensorFlow (a long request, a load) must not hold the exit past the stop.
os._exit(code)

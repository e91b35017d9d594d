"""``python -m recoil.store PROJECT``: the log follower's process (see :mod:`.follower`)."""

import logging
import os
import sys
from pathlib import Path

from recoil.store.follower import follow

logging.basicConfig(format="recoil store follower: %(message)s")
follow(Path(sys.argv[1]))
sys.stderr.flush()
# Its work is committed: skip the interpreter's slow teardown, the run is waiting.
os._exit(0)

"""``python -m livefilter``: the same as the ``livefilter`` command."""

import sys

from livefilter.cli import main

sys.exit(main())

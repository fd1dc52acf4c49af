"""``python -m neuromod_data.cli``: the ``neuromod`` command without the console script."""

import sys

from neuromod_data.cli import main

sys.exit(main())

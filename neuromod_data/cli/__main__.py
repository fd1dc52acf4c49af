"""``python -m neuromod_data.cli``: the ``neuromod`` command without the console script."""

import sys

try:
    from neuromod_data.cli import main
except KeyboardInterrupt:  # pragma: no cover - Ctrl-C before main() could install its handler
    print("neuromod: interrupted while starting; nothing was done", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

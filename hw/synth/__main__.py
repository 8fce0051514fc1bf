"""``python -m hw.synth`` is ``python -m hw.synth.fp`` (kept for one release)."""

import sys

from .fp import main

sys.exit(main())

"""`python -m bot` is the `triage` command."""

import sys

from bot.runtime.cli import main

sys.exit(main())

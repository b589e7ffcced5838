"""`python -m bot` is the `triage` command."""

import sys

from bot.cli import main

sys.exit(main())

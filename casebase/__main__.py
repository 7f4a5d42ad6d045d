"""``python -m casebase`` (and ``accelerate launch -m casebase train ...``) runs the CLI."""

import sys

from casebase.cli import app

sys.exit(app())

"""Entry point of `python -m tests.searchnode build|start|stop|status`."""

import sys

from tests.searchnode import main

sys.exit(main())

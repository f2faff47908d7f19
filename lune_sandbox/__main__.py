"""python -m lune_sandbox [--port P] [--seed S] [--client-accounts N] [--orders-per-account M]
[--rate-limit R]: serve the sandbox standalone."""

import sys

from .cli import main

sys.exit(main())

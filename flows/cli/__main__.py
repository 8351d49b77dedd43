"""`python -m flows.cli`, as the console script `madoguchi`."""

import sys

from flows.cli import main

sys.exit(main())

"""``python -m eqlab``: the command line, the same as the ``eqlab`` console script (see ``eqlab.cli``)."""

import sys

from eqlab.cli import main

sys.exit(main())

"""``python -m causalnet`` (and ``torchrun -m causalnet``): the causalnet command line."""

import sys

from .cli import main

sys.exit(main())

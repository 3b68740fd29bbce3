"""python -m helixnet"""

import sys

from helixnet.cli import main

sys.exit(main())

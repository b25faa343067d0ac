"""`python -m credplugin`."""

import sys

from credplugin.entry import main

if __name__ == "__main__":
    sys.exit(main())

import sys

from liveedit.cli import main

sys.exit(main())

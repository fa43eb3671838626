import sys

from napari_mrisr.cli import main

sys.exit(main())

import sys

from sensors_sim.cli import main

sys.exit(main())

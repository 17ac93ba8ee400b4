"""`python -m parking_hub.interfaces DIR`: writes the documents into DIR (the repository's docs/)."""

import sys
from pathlib import Path

from parking_hub.interfaces import DOCUMENTS, encoded

if len(sys.argv) != 2:
    sys.exit("usage: python -m parking_hub.interfaces DIR")
for name in DOCUMENTS:
    (Path(sys.argv[1]) / name).write_bytes(encoded(name))

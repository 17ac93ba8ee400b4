"""parking-hub: real-time citywide parking availability."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parking-hub")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]

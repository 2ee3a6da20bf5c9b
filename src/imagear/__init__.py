"""imagear: turn archival master images into short looping MP4 clips."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imagear")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

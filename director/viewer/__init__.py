"""The live viewer: a local web page following a running show's tree, queues and latencies."""

from director.viewer.server import Viewer, ViewerError, check_host
from director.viewer.snapshot import Tracker, structure_of

__all__ = ["Tracker", "Viewer", "ViewerError", "check_host", "structure_of"]

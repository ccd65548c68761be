"""The handset: a PDM emulator (library and `handset` CLI) for the emulated Eros pod.

For development and testing only: it must never be used to drive a real pump or guide a real dose.
"""

__version__ = "0.1.0"

# pod/hal/storage.py - named byte files in one directory, written atomically.
#
# Used on unix (a folder, ./var/pod by default) and on the Pico (a folder on the littlefs root).
# A write goes to "<name>.tmp" first and is then renamed over the old file, so a power cut leaves
# either the old or the new content, never a mix (rename is atomic on POSIX and on littlefs).

import os


def _is_dir(path):
    try:
        return (os.stat(path)[0] & 0x4000) != 0
    except OSError:
        return False


def make_dirs(path):
    """mkdir -p (MicroPython's os has no makedirs)."""
    if not path or _is_dir(path):
        return
    parent = path.rsplit("/", 1)[0] if "/" in path.rstrip("/") else ""
    if parent and parent != path:
        make_dirs(parent)
    os.mkdir(path)


class FileStorage:
    """hal.storage: read(name) -> bytes or None, write(name, data) (atomic), remove(name)."""

    def __init__(self, directory):
        self.directory = directory.rstrip("/") or "/"
        make_dirs(self.directory)

    def _path(self, name):
        if not name or "/" in name or name.startswith("."):
            raise ValueError("storage names are plain file names, got %r" % name)
        return self.directory + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        path = self._path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass

    def names(self):
        return sorted(n for n in os.listdir(self.directory) if not n.endswith(".tmp"))

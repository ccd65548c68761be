"""The single exception of the codec: malformed or out-of-range protocol data."""


class ProtocolError(ValueError):
    """Bad wire data or a field that does not fit its place on the wire.

    `message` says what is wrong in a sentence; `offset` is the byte (from the start of the
    message) where the problem was found, or None when encoding.
    """

    def __init__(self, message, offset=None):
        if offset is not None:
            message = "%s (at byte %d)" % (message, offset)
        super().__init__(message)
        self.message = message
        self.offset = offset

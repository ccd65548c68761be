"""The pod's append-only journal on a flash region (hal/storage.FlashRegion, or rp2 flash).

The region is a ring of 4 KB sectors. Each sector in use starts with a header (magic b"EJ",
version, its sequence number, CRC32); records follow, appended in order, each inside one 256-byte
page so that one record costs one page program:

    kind (1) | length (1) | payload (length) | CRC32 of kind, length and payload (4)

A record that would cross a page goes to the start of the next page. A payload longer than one
record holds is split: CONT records carry its first parts, the last part has the real kind.
Reading never raises on garbage: a torn or corrupt record makes the reader skip to the next page;
a blank page ends a sector. Erasing happens only when the writer opens a sector: the oldest one
that holds nothing the store still needs (`keep_from`: the sector of the newest snapshot).
"""
import binascii
import struct

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

from pod.hal.storage import SECTOR, PAGE

_MAGIC = b"EJ"
_VERSION = const(1)
_HEADER_LEN = const(16)       # records start here: magic, version, pad, seq u32, crc u32, 4 x 0xFF
_BLANK = const(0xFF)
_OVERHEAD = const(6)          # kind, length, CRC32
MAX_CHUNK = const(200)        # payload bytes per record: fits any page, the first one included
CONT = const(0x7F)            # first parts of a long payload


def _header(seq):
    head = struct.pack(">2sBBI", _MAGIC, _VERSION, 0, seq)
    return head + struct.pack(">I", binascii.crc32(head) & 0xFFFFFFFF)


def _header_seq(data):
    """The sequence number of a valid sector header, else -1."""
    if len(data) < 12 or data[0:2] != _MAGIC or data[2] != _VERSION:
        return -1
    seq = struct.unpack_from(">I", data, 4)[0]
    if struct.unpack_from(">I", data, 8)[0] != binascii.crc32(bytes(data[0:8])) & 0xFFFFFFFF:
        return -1
    return seq


def _all_blank(data, start, end):
    for i in range(start, end):
        if data[i] != _BLANK:
            return False
    return True


def parse_page(data, start):
    """[(offset in page, kind, payload)] of the valid records of one page's bytes from `start`,
    and where the writer may append in it (PAGE when the page is full or torn)."""
    out = []
    off = start
    while off + 2 <= PAGE and data[off] != _BLANK:
        end = off + 2 + data[off + 1] + 4
        if end > PAGE or struct.unpack_from(">I", data, end - 4)[0] != (
                binascii.crc32(bytes(data[off:end - 4])) & 0xFFFFFFFF):
            return out, PAGE  # torn or corrupt: the rest of this page cannot be trusted
        out.append((off, data[off], bytes(data[off + 2:end - 4])))
        off = end
    return out, (off if _all_blank(data, off, PAGE) else PAGE)


def sector_pages(read, base):
    """(page offset, records, writer offset) of each written page of the sector at `base`; a
    blank page ends the sector. Reads one page at a time (a Pico's heap is small)."""
    for page in range(0, SECTOR, PAGE):
        data = read(base + page, PAGE)
        start = _HEADER_LEN if page == 0 else 0
        if page and _all_blank(data, 0, PAGE):
            return
        recs, w = parse_page(data, start)
        yield page, recs, page + w
        if page == 0 and w == start and not recs:
            return  # only the header: nothing written yet


def parse_sector(read, base):
    """[(offset, kind, payload)] of the valid records of a sector, and the writer's offset."""
    out = []
    w = _HEADER_LEN
    for page, recs, pw in sector_pages(read, base):
        for r in recs:
            out.append((page + r[0], r[1], r[2]))
        w = pw
    return out, w


class Journal:
    """Append records, read them back in order from a position (sector seq, offset)."""

    def __init__(self, region):
        self._region = region
        self.keep_from = 0     # sectors with a lower seq may be erased (nothing needs them)
        self._scan()

    def _scan(self):
        self._seqs = {}        # seq -> sector index, valid headers only
        for i in range(self._region.sectors):
            s = _header_seq(self._region.read(i * SECTOR, 12))
            if s > 0:
                self._seqs[s] = i
        if self._seqs:
            self.head_seq = max(self._seqs)
            self.head_off = parse_sector(self._region.read, self._seqs[self.head_seq] * SECTOR)[1]
        else:
            self.head_seq = 0
            self.head_off = SECTOR  # the first append opens sector seq 1

    def position(self):
        """Where the next record goes, as [sector seq, offset]: records at or after it are new."""
        return [self.head_seq, self.head_off]

    def live_sectors(self):
        """Sectors holding records that the store still needs (seq >= keep_from)."""
        n = 0
        for s in self._seqs:
            if s >= self.keep_from:
                n += 1
        return n

    def free_sectors(self):
        return self._region.sectors - self.live_sectors()

    def records(self, since, until=None):
        """[(kind, payload)] of every record at or after position `since` (and before `until`), in
        order, long payloads joined; raises ValueError when the sectors from `since` on are not
        all there."""
        return list(self.iter_records(since, until))

    def iter_records(self, since, until=None):
        """records() one at a time, reading one page at a time; the sectors are checked before
        the first record comes (ValueError)."""
        seq, off = since[0], since[1]
        if seq > self.head_seq or (seq > 0 and seq not in self._seqs and off < SECTOR):
            raise ValueError("the journal from sector %d is gone" % seq)
        first = seq if seq > 0 else (min(self._seqs) if self._seqs else 1)  # 0: the oldest kept
        for s in range(first, self.head_seq + 1):
            if s not in self._seqs and s != seq:
                raise ValueError("journal sector %d is missing" % s)
        return self._records(first, seq, off, until)

    def _records(self, first, seq, off, until):
        parts = b""
        for s in range(first, self.head_seq + 1):
            i = self._seqs.get(s)
            if i is None:
                continue
            for page, recs, _ in sector_pages(self._region.read, i * SECTOR):
                for r in recs:
                    at = page + r[0]
                    if s == seq and at < off:
                        continue
                    if until is not None and (s > until[0] or (s == until[0] and at >= until[1])):
                        return
                    if r[1] == CONT:
                        parts += r[2]
                    else:
                        yield r[1], (parts + r[2] if parts else r[2])
                        parts = b""

    def append(self, kind, payload):
        """Write one record (or several for a long payload): one page program each."""
        while len(payload) > MAX_CHUNK:
            self._write(CONT, payload[:MAX_CHUNK])
            payload = payload[MAX_CHUNK:]
        self._write(kind, payload)

    def _write(self, kind, payload):
        rec = bytes((kind, len(payload))) + payload
        rec += struct.pack(">I", binascii.crc32(rec) & 0xFFFFFFFF)
        off = self.head_off
        if off // PAGE != (off + len(rec) - 1) // PAGE:
            off = (off // PAGE + 1) * PAGE
        if off + len(rec) > SECTOR:
            self._open_sector()
            off = self.head_off
        self._region.program(self._seqs[self.head_seq] * SECTOR + off, rec)
        self.head_off = off + len(rec)

    def _open_sector(self):
        """Erase the oldest sector nothing needs and make it the head (seq + 1)."""
        used = {}
        for s in self._seqs:
            used[self._seqs[s]] = s
        pick = -1
        pick_seq = -1
        for i in range(self._region.sectors):
            s = used.get(i, 0)
            if s >= self.keep_from and s:
                continue  # still needed
            if pick < 0 or s < pick_seq:
                pick, pick_seq = i, s
        if pick < 0:
            raise OSError("the pod's journal is full: nothing can be erased (save a snapshot first)")
        if pick_seq:
            del self._seqs[pick_seq]
        for page in range(0, SECTOR, PAGE):
            if not _all_blank(self._region.read(pick * SECTOR + page, PAGE), 0, PAGE):
                self._region.erase(pick)
                break
        seq = self.head_seq + 1
        self._region.program(pick * SECTOR, _header(seq))
        self._seqs[seq] = pick
        self.head_seq = seq
        self.head_off = _HEADER_LEN

    def erase_all(self):
        for s in list(self._seqs):
            self._region.erase(self._seqs[s])
        self._seqs = {}
        self.head_seq = 0
        self.head_off = SECTOR
        self.keep_from = 0

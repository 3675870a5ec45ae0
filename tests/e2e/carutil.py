"""A small, independent CARv1/v2 reader and writer for the tests (not warren's code)."""
import hashlib


def read_varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_cid(b, i):
    """Returns (cid_bytes, codec, mh_code, digest, next_index)."""
    start = i
    if b[i] == 0x12 and b[i + 1] == 0x20:
        return b[i:i + 34], 0x70, 0x12, b[i + 2:i + 34], i + 34
    version, i = read_varint(b, i)
    assert version == 1
    codec, i = read_varint(b, i)
    code, i = read_varint(b, i)
    size, i = read_varint(b, i)
    digest = b[i:i + size]
    i += size
    return b[start:i], codec, code, digest, i


def parse_car(data):
    """Returns (header_bytes, [(cid_bytes, codec, mh_code, digest, block)])."""
    if data[:11] == bytes.fromhex("0aa16776657273696f6e02"):  # CARv2 pragma
        off = int.from_bytes(data[11 + 16:11 + 24], "little")
        size = int.from_bytes(data[11 + 24:11 + 32], "little")
        data = data[off:off + size]
    hlen, i = read_varint(data, 0)
    header = data[i:i + hlen]
    i += hlen
    blocks = []
    while i < len(data):
        slen, i = read_varint(data, i)
        end = i + slen
        cid, codec, code, digest, j = read_cid(data, i)
        blocks.append((cid, codec, code, digest, data[j:end]))
        i = end
    return header, blocks


def verify(code, digest, block):
    if code == 0x12:
        return hashlib.sha256(block).digest() == digest
    if code == 0x13:
        return hashlib.sha512(block).digest() == digest
    if code == 0x00:
        return digest == block
    return None


def write_car(root_cid_bytes, sections):
    """CARv1 with one root; sections: [(cid_bytes, block)]."""
    # dag-cbor {"roots": [tag42(0x00 + cid)], "version": 1}
    cidb = b"\x00" + root_cid_bytes
    tag = b"\xd8\x2a" + (bytes([0x58, len(cidb)]) if len(cidb) < 256 else None)
    header = (b"\xa2" + b"\x65roots" + b"\x81" + tag + cidb + b"\x67version" + b"\x01")
    out = bytearray(varint(len(header)) + header)
    for cid, block in sections:
        out += varint(len(cid) + len(block)) + cid + block
    return bytes(out)


def to_carv2(v1):
    """Wraps a CARv1 payload as a CARv2 (pragma, 40-byte header, payload, no index)."""
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    off = len(pragma) + 40
    header = bytes(16) + off.to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    return pragma + header + v1

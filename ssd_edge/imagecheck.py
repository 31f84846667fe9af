"""Decode images from untrusted bytes: the header's claimed size is checked before decoding.

A 100-byte JPEG or PNG may claim 100000 x 100000 pixels; decoding it would allocate 30 GB.
:func:`claimed_size` reads the width and height from the header (JPEG SOF, PNG IHDR, BMP, GIF,
WebP) without decoding, and :func:`decode_image` refuses anything above :data:`MAX_PIXELS`.
"""
import struct

from .errors import SsdEdgeError, missing_extra


def import_cv2():
    """Import OpenCV or raise the error that names the extra providing it."""
    try:
        import cv2
    except ImportError:
        raise missing_extra("cv2 (OpenCV)", "cv")
    return cv2

#: The most pixels a decoded image may have (about 134 MP, a 400 MB BGR frame).
MAX_PIXELS = 1 << 27
_SOF = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])


def claimed_size(data):
    """``(width, height)`` the image header in ``data`` (bytes) claims, or None if not found."""
    data = bytes(data[:1 << 16]) if len(data) > 1 << 16 else bytes(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] == b"VP8X" \
            and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data):
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in _SOF and pos + 9 <= len(data):
            h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
            return w, h
        pos += 2 + length
    return None


def check_claimed_size(data, what):
    """Raise :class:`SsdEdgeError` when ``data``'s header claims more than :data:`MAX_PIXELS`."""
    size = claimed_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise SsdEdgeError("%s claims %d x %d pixels, over the %d MP accepted; refusing to "
                           "decode it" % (what, size[0], size[1], MAX_PIXELS // 1000000))


def decode_image(data):
    """``(H, W, 3) uint8`` BGR from encoded bytes, or None when they are not a sane image."""
    try:
        check_claimed_size(data, "image")
    except SsdEdgeError:
        return None
    cv2 = import_cv2()
    import numpy as np
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


def read_image(path):
    """Read an image file as ``(H, W, 3) uint8`` BGR; one-line errors for unreadable or huge ones."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SsdEdgeError("cannot read image %s: %s" % (path, e.strerror or e))
    if not data:
        raise SsdEdgeError("expected an image in %s, got an empty file" % path)
    check_claimed_size(data, "image %s" % path)
    from .cstderr import library_output
    with library_output(replay=False) as caught:    # libjpeg/libpng's own lines
        image = decode_image(data)
    if image is None:
        raise SsdEdgeError("expected an image in %s, got bytes OpenCV cannot decode%s"
                           % (path, " (%s)" % caught.reason if caught.reason else ""))
    return image

"""What may be shown of a source or model name to a log line or an HTTP client.

Camera URLs carry credentials (``rtsp://admin:secret@cam/``) and tokens in their query strings
(``http://cam/video?token=...``); model paths reveal the machine's folder layout. ``/stats``
and log lines show :func:`redact_uri` / :func:`public_name` of them instead.
"""
import os
import re

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)", re.S)


def redact_uri(uri):
    """``scheme://host[:port]/path`` without user, password, query or fragment; other text as is.

    ``gst://`` pipelines are shown as ``gst://`` only (their elements may hold credentials).
    """
    text = str(uri)
    m = _URL.match(text)
    if m is None:
        return text
    scheme, authority, path = m.group(1), m.group(2), m.group(3)
    if scheme.lower() == "gst":
        return "gst://(pipeline)"
    host = authority.rpartition("@")[2]
    return "%s://%s%s" % (scheme, host, path)


def public_name(uri):
    """A name for a client: a redacted URL, or only the file name of a local path."""
    text = str(uri)
    if _URL.match(text):
        return redact_uri(text)
    return os.path.basename(text.rstrip("/\\")) or text

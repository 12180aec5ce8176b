"""Instrument XML read safely, as instruments really write it.

defusedxml refuses DTDs and entities (no instrument file has them). Real files also declare an
encoding they do not use: PacBio Revio's `metadata.xml` says `encoding="utf-16"` and is UTF-8
(ngs_lake_tests/data/real_runs/r84047_20230404_164149). Such a file is read as the UTF-8 it is;
a file that is neither what it declares nor UTF-8 is refused.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from ngs_lake.platforms.base import PlatformFileError

_UTF16_DECLARATION = re.compile(
    rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*encoding=[\"']utf-16[\"'][^>]*\?>", re.IGNORECASE
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def parse_instrument_xml(data: bytes, name: str) -> Element:
    """The document's root; PlatformFileError naming `name` for anything unreadable."""
    try:
        return _parse(data, name)
    except PlatformFileError:
        relabelled = _as_utf8(data)
        if relabelled is None:
            raise
        return _parse(relabelled, name)


def _as_utf8(data: bytes) -> bytes | None:
    """The document without its declaration, when it is UTF-8 text that claims UTF-16."""
    if data.startswith(_UTF16_BOMS) or not _UTF16_DECLARATION.match(data):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _UTF16_DECLARATION.sub(b"", data, count=1)


def _parse(data: bytes, name: str) -> Element:
    try:
        return safe_fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PlatformFileError(
            f"{name}: refused: it declares a DTD or entities ({type(exc).__name__}); instrument "
            "files never do"
        ) from None
    except ParseError as exc:
        raise PlatformFileError(f"{name}: not well-formed XML ({exc}); truncated?") from None
    except (LookupError, ValueError) as exc:  # an encoding expat does not know, or cannot read
        raise PlatformFileError(f"{name}: unreadable XML declaration ({exc})") from None


def local_name(element: Element) -> str:
    """The tag without its namespace: `pbds:SubreadSet` and `{...}SubreadSet` are `SubreadSet`."""
    return element.tag.rsplit("}", 1)[-1]


def first_named(root: Element, name: str) -> Element | None:
    """The first element (in document order) whose local name is `name`, in any namespace."""
    return next((e for e in root.iter() if local_name(e) == name), None)

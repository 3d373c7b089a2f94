"""XMP packets: GPS coordinates and place names, in element or attribute form, with their byte spans.

Parsed with expat (namespace-aware, so any prefix works) rather than a regex; expat's byte index gives the span of
each property so it can be blanked with spaces, which keeps the packet well-formed and the same length.
"""
from __future__ import annotations

import re
from xml.parsers import expat

from .report import Coordinate, MediaReport, Patch, Place

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
EXIF = "http://ns.adobe.com/exif/1.0/"
DJI = "http://www.dji.com/drone-dji/1.0/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
EARTH_POSE = "http://ns.google.com/photos/dd/1.0/earthpose/"  # Google's Dynamic Depth: the device's Earth pose
XMP_DM = "http://ns.adobe.com/xmp/1.0/DynamicMedia/"  # Premiere, Lightroom and cameras' video: shotLocation
DWC = ("http://rs.tdwg.org/dwc/index.htm", "http://rs.tdwg.org/dwc/terms/", "http://rs.tdwg.org/dwc/dwcore/")
PREFIXES = {EXIF: "exif", DJI: "drone-dji", IPTC_EXT: "Iptc4xmpExt", IPTC_CORE: "Iptc4xmpCore",
            PHOTOSHOP: "photoshop", XMP_DM: "xmpDM", EARTH_POSE: "EarthPose", **{ns: "dwc" for ns in DWC}}

# ExifTool's DJI.pm also lists drone-dji:Latitude/Longitude, and XMP2.pl Google's EarthPose Latitude/Longitude.
LATITUDE = {(EXIF, "GPSLatitude"), (DJI, "GpsLatitude"), (DJI, "GPSLatitude"), (DJI, "Latitude"),
            (EARTH_POSE, "Latitude")} | {(ns, "decimalLatitude") for ns in DWC}
LONGITUDE = {(EXIF, "GPSLongitude"), (DJI, "GpsLongitude"), (DJI, "GpsLongtitude"), (DJI, "GPSLongitude"),
             (DJI, "Longitude"), (EARTH_POSE, "Longitude")} | {(ns, "decimalLongitude") for ns in DWC}
PLACE_PROPS = {(PHOTOSHOP, "City"), (PHOTOSHOP, "State"), (PHOTOSHOP, "Country"), (IPTC_CORE, "Location"),
               (IPTC_CORE, "CountryCode"), (EXIF, "GPSAreaInformation"), (XMP_DM, "shotLocation")}
STRUCT_PLACE_FIELDS = {"City", "Sublocation", "ProvinceState", "CountryName", "CountryCode", "WorldRegion",
                       "LocationName"}
LOCATION_STRUCTS = {(IPTC_EXT, "LocationShown"), (IPTC_EXT, "LocationCreated")}
MARKERS = (b"GPS", b"Gps", b"ocation", b"City", b"Country", b"atitude", b"State")

# Linear patterns: possessive quantifiers, so padding with spaces (inside a value, around '=', between attributes)
# never makes them backtrack; and every input they see is bounded (MAX_PACKET, MAX_VALUE).
_ATTR = re.compile(rb"""\s(?:([\w.-]++):)?+([\w.-]++)\s*+=\s*+("[^"]*+"|'[^']*+')""")
_DMS = re.compile(r"([+-]?\d++(?:\.\d++)?+)(?:,(\d++(?:\.\d++)?+))?+(?:,(\d++(?:\.\d++)?+))?+\s*+([NSEW]?)", re.I)
_TAG_STOP = re.compile(rb"""["'>]""")
MAX_PACKET = 8 << 20  # an XMP packet larger than this is not read (an error: it may hold a location)
MAX_VALUE = 256  # a GPS value longer than this (once trimmed) is no coordinate
MAX_DEPTH = 1000  # element nesting; real packets are under 20 deep


def removable(ns: str, name: str) -> bool:
    return ((ns == EXIF and name.startswith("GPS")) or (ns == DJI and name.lower().startswith("gps"))
            or (ns, name) in LATITUDE or (ns, name) in LONGITUDE or (ns, name) in PLACE_PROPS
            or (ns, name) in LOCATION_STRUCTS)


def parse_value(text: str) -> float | None:
    """An XMP GPS coordinate: "54,59.38N", "54,59,23.2N", "-1.914" (decimal), with or without a direction."""
    text = (text or "").strip()
    if len(text) > MAX_VALUE:
        return None
    m = _DMS.fullmatch(text)
    if not m:
        return None
    deg, minutes, seconds, ref = m.groups()
    value = abs(float(deg)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    negative = deg.startswith("-") or ref.upper() in ("S", "W")
    return -value if negative else value


def _tag_end(buf: bytes, pos: int) -> int:
    """Index just past the '>' that closes the tag starting at pos, skipping quoted attribute values."""
    while True:  # at C speed: a Python loop over each byte of a multi-megabyte tag took a second
        m = _TAG_STOP.search(buf, pos)
        if not m:
            return len(buf)
        if m.group() == b">":
            return m.end()
        close = buf.find(m.group(), m.end())
        if close < 0:
            return len(buf)
        pos = close + 1


class _Handler:
    def __init__(self, buf: bytes, parser: expat.XMLParserType):
        self.buf, self.p = buf, parser
        self.stack: list[tuple[str, str, int, int]] = []  # ns, name, start byte, node id
        self.prefixes: dict[str, str] = {}
        self.props: list[tuple[int, str, str, str, str | None]] = []  # node, ns, name, text, struct
        self.spans: list[tuple[int, int]] = []
        self.text: list[str] = []
        self.nodes = 0
        # What the stack scans used to find, kept as the stack changes (a deep packet made them quadratic: 30,000
        # nested elements took a minute): the location structs open, and the nodes that can hold properties.
        self.structs: list[str] = []
        self.owners: list[int] = []
        self.too_deep = False

    def ns_decl(self, prefix, uri):
        self.prefixes[prefix or ""] = uri

    def _struct(self) -> str | None:
        return self.structs[0] if self.structs else None  # the outermost, as the scan found it

    def _removing(self) -> bool:
        return bool(self.structs)

    def start(self, qname, attrs):
        ns, _, name = qname.rpartition(" ")
        start = self.p.CurrentByteIndex
        self.nodes += 1
        node = self.nodes
        self.text = []
        if attrs and any(removable(*a.rpartition(" ")[::2]) or a.endswith(tuple(STRUCT_PLACE_FIELDS))
                         for a in attrs):
            struct = self._struct() or (name if (ns, name) in LOCATION_STRUCTS else None)
            raw = self.buf[start:_tag_end(self.buf, start)]
            for m in _ATTR.finditer(raw):
                prefix, local, value = m.group(1), m.group(2).decode(), m.group(3)[1:-1]
                a_ns = self.prefixes.get(prefix.decode() if prefix else "", "")
                if removable(a_ns, local) or (struct and local in STRUCT_PLACE_FIELDS):
                    self.props.append((node, a_ns, local, _unescape(value), struct))
                    if not self._removing():
                        self.spans.append((start + m.start(), start + m.end()))
        self.stack.append((ns, name, start, node))
        if (ns, name) in LOCATION_STRUCTS:
            self.structs.append(name)
        if ns == RDF and name in ("Description", "li"):
            self.owners.append(node)
        if len(self.stack) > MAX_DEPTH:
            self.too_deep = True
            raise _TooDeep

    def end(self, qname):
        ns, name, start, node = self.stack.pop()
        if (ns, name) in LOCATION_STRUCTS:
            self.structs.pop()
        if ns == RDF and name in ("Description", "li"):
            self.owners.pop()
        text = "".join(self.text).strip()
        self.text = []
        owner = self._owner()
        if removable(ns, name) or (self._struct() and name in STRUCT_PLACE_FIELDS) or (
                name == "li" and ns == RDF and self.stack and (self.stack[-1][1] == "Alt")):
            prop_ns, prop_name = (ns, name)
            if name == "li" and len(self.stack) >= 2:  # rdf:Alt/rdf:li inside a property
                prop_ns, prop_name = self.stack[-2][0], self.stack[-2][1]
            if text and (removable(prop_ns, prop_name) or (self._struct() and prop_name in STRUCT_PLACE_FIELDS)):
                self.props.append((owner, prop_ns, prop_name, text, self._struct()))
        if removable(ns, name) and not self._removing():
            here = self.p.CurrentByteIndex
            self.spans.append((start, _tag_end(self.buf, here)))

    def _owner(self) -> int:
        """The nearest enclosing node that can hold properties (rdf:Description or rdf:li)."""
        return self.owners[-1] if self.owners else 0

    def chars(self, data):
        self.text.append(data)


class _TooDeep(Exception):
    pass


def _unescape(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    return text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">") \
        .replace("&amp;", "&")


def parse(data: bytes, start: int, end: int, report: MediaReport, label: str = "XMP",
          pieces=None) -> None:
    """Parse the packet at data[start:end]. `pieces(lo, hi)` maps a span of it to file spans, for split packets."""
    if end - start > MAX_PACKET:
        report.fail(f"{label}: packet of {end - start} bytes is larger than PostGuard reads ({MAX_PACKET})")
        return
    buf = bytes(data[start:end]).rstrip(b"\0 \r\n\t")
    if not any(m in buf for m in MARKERS):
        return
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.EntityDeclHandler = _no_entities  # XMP has no DTD: no entity can expand
    h = _Handler(buf, parser)
    parser.StartNamespaceDeclHandler = h.ns_decl
    parser.StartElementHandler = h.start
    parser.EndElementHandler = h.end
    parser.CharacterDataHandler = h.chars
    try:
        parser.Parse(buf, True)
    except expat.ExpatError as exc:
        report.warn(f"{label}: {exc}")
    except _TooDeep:
        report.fail(f"{label}: elements nested more than {MAX_DEPTH} deep; not read")
        return
    except _Entity:
        report.fail(f"{label}: declares an entity (XMP has no DTD); not read")
        return
    _collect(h, report, label)
    for lo, hi in h.spans:
        for a, b in (pieces(lo, hi) if pieces else [(start + lo, start + hi)]):
            report.patches.append(Patch(a, b, b" " * (b - a)))


class _Entity(Exception):
    pass


def _no_entities(*args):
    raise _Entity


def _collect(h: _Handler, report: MediaReport, label: str) -> None:
    by_node: dict[int, dict] = {}
    for node, ns, name, text, struct in h.props:
        slot = by_node.setdefault(node, {"struct": struct})
        if (ns, name) in LATITUDE:
            slot.setdefault("lat", (ns, name, text))
        elif (ns, name) in LONGITUDE:
            slot.setdefault("lon", (ns, name, text))
        elif (ns, name) in PLACE_PROPS:
            report.places.append(Place(f"{label} {PREFIXES.get(ns, ns)}:{name}", text))
        elif struct and name in STRUCT_PLACE_FIELDS:
            report.places.append(Place(f"{label} Iptc4xmpExt:{struct}{name}", text))
    for slot in by_node.values():
        if "lat" in slot and "lon" in slot:
            if any(len(slot[k][2].strip()) > MAX_VALUE for k in ("lat", "lon")):
                report.fail(f"{label}: a GPS value longer than {MAX_VALUE} characters; not read")
                continue
            lat, lon = parse_value(slot["lat"][2]), parse_value(slot["lon"][2])
            if lat is None or lon is None:
                continue
            where = f"Iptc4xmpExt:{slot['struct']}" if slot["struct"] else \
                f"{PREFIXES.get(slot['lat'][0], slot['lat'][0])}:{slot['lat'][1]}"
            report.coordinates.append(Coordinate(lat, lon, f"{label} {where}"))

// A big photo's metadata, read by slices (Blob.slice), so the check sends the service what the location rules read
// and not the pictures (issue 18 item 9: a 4 MB JPEG took about 600 ms and an iPhone HEIC about 900 ms, most of it
// copying the whole file through the messaging and the HTTP body). Plain module: any Blob (a File in the page,
// Node's Blob in the tests) with slice() and arrayBuffer().
//
// The result is itself a valid file of the same format, holding everything a metadata walker reads:
//   JPEG  the segments before the first SOS (APPn: EXIF, XMP and extended XMP, ICC, Photoshop/IPTC; COM, DQT, SOF),
//         then EOI: no scan data;
//   HEIF  ftyp, the whole meta box (iinf, iloc, iprp, idat) and a new mdat with only the Exif and XMP items' bytes,
//         their iloc offsets moved there (same field sizes, so meta keeps its length); image items are left out.
// Anything else, or a structure it does not follow, gives null: the caller sends the whole file, as before.

export const MIN_SIZE = 512 * 1024; // smaller files are sent whole (reading them whole is as quick)
const MAX_HEAD = 4 * 1024 * 1024; // JPEG segments before SOS, or a HEIF meta box, larger than this: sent whole
const MAX_ITEMS = 16 * 1024 * 1024; // the Exif/XMP items' bytes read from a HEIF
const STEP = 64 * 1024;

const HEIF_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis", "mif2"]);

async function read(blob, start, end) {
  return new Uint8Array(await blob.slice(start, Math.min(end, blob.size)).arrayBuffer());
}

function u16(b, i) {
  return (b[i] << 8) | b[i + 1];
}

function u32(b, i) {
  return ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
}

function uN(b, i, n) {
  let v = 0;
  for (let k = 0; k < n; k++) v = v * 256 + b[i + k];
  return v;
}

function putN(b, i, n, value) {
  let v = value;
  for (let k = n - 1; k >= 0; k--) {
    b[i + k] = v % 256;
    v = Math.floor(v / 256);
  }
}

function fourcc(b, i) {
  return String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
}

/** The reduced file (Uint8Array) for a JPEG or HEIF blob, or null (not one of them, too small, or unusual). */
export async function metadataOnly(blob, { minSize = MIN_SIZE } = {}) {
  if (!blob || blob.size < minSize) return null;
  const head = await read(blob, 0, 16);
  try {
    if (head[0] === 0xff && head[1] === 0xd8) return await jpegHead(blob);
    if (fourcc(head, 4) === "ftyp") return await heifMeta(blob);
  } catch {
    return null; // a structure this reader does not follow: the whole file is checked
  }
  return null;
}

// -- JPEG ----------------------------------------------------------------------------------------------------------

async function jpegHead(blob) {
  let buf = await read(blob, 0, STEP);
  let pos = 2;
  for (;;) {
    while (pos + 4 > buf.length) {
      if (buf.length >= blob.size || buf.length > MAX_HEAD) return null;
      buf = concat(buf, await read(blob, buf.length, buf.length + STEP));
    }
    if (buf[pos] !== 0xff) return null;
    const marker = buf[pos + 1];
    if (marker === 0xff) { // fill bytes
      pos += 1;
      continue;
    }
    if (marker === 0xda) break; // SOS: the picture starts
    if (marker === 0xd9) return null; // EOI before any picture
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    pos += 2 + u16(buf, pos + 2);
    if (pos > MAX_HEAD) return null;
  }
  const out = new Uint8Array(pos + 2);
  out.set(buf.subarray(0, pos));
  out[pos] = 0xff;
  out[pos + 1] = 0xd9;
  return out;
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// -- HEIF -----------------------------------------------------------------------------------------------------------

/** Top-level boxes: [{type, start, size, header}] read from their headers only. */
async function topBoxes(blob) {
  const boxes = [];
  let pos = 0;
  while (pos + 8 <= blob.size && boxes.length < 1000) {
    const h = await read(blob, pos, pos + 16);
    let size = u32(h, 0);
    const type = fourcc(h, 4);
    let header = 8;
    if (size === 1) {
      size = uN(h, 8, 8);
      header = 16;
    } else if (size === 0) {
      size = blob.size - pos;
    }
    if (size < header || pos + size > blob.size) throw new Error(`box ${type} runs past the file`);
    boxes.push({ type, start: pos, size, header });
    pos += size;
  }
  return boxes;
}

/** Children of a box's payload: [{type, start, size, header}] with start relative to `b`. */
function children(b, from, to) {
  const out = [];
  let pos = from;
  while (pos + 8 <= to) {
    let size = u32(b, pos);
    let header = 8;
    if (size === 1) {
      size = uN(b, pos + 8, 8);
      header = 16;
    } else if (size === 0) {
      size = to - pos;
    }
    if (size < header || pos + size > to) throw new Error("box runs past its parent");
    out.push({ type: fourcc(b, pos + 4), start: pos, size, header });
    pos += size;
  }
  return out;
}

/** Item ids of the Exif and XMP items, from iinf. */
function metadataItems(meta, iinf) {
  const ids = new Set();
  const version = meta[iinf.start + iinf.header];
  const count = version === 0 ? u16(meta, iinf.start + iinf.header + 4) : u32(meta, iinf.start + iinf.header + 4);
  const first = iinf.start + iinf.header + 4 + (version === 0 ? 2 : 4);
  const entries = children(meta, first, iinf.start + iinf.size).filter((c) => c.type === "infe");
  if (entries.length !== count) throw new Error("iinf count");
  for (const infe of entries) {
    const p = infe.start + infe.header;
    const v = meta[p];
    if (v < 2) continue;
    const id = v === 2 ? u16(meta, p + 4) : u32(meta, p + 4);
    const q = p + 4 + (v === 2 ? 2 : 4) + 2;
    const type = fourcc(meta, q);
    if (type === "Exif") ids.add(id);
    if (type === "mime") {
      let name = q + 4;
      while (name < infe.start + infe.size && meta[name] !== 0) name++;
      let end = name + 1;
      while (end < infe.start + infe.size && meta[end] !== 0) end++;
      const contentType = String.fromCharCode(...meta.subarray(name + 1, end)).toLowerCase();
      if (contentType.includes("xmp") || contentType.includes("rdf+xml")) ids.add(id);
    }
  }
  return ids;
}

/** Sets the `hidden` flag (infe flags bit 0) on every item not in `keep`. */
function hideOthers(meta, iinf, keep) {
  const version = meta[iinf.start + iinf.header];
  const first = iinf.start + iinf.header + 4 + (version === 0 ? 2 : 4);
  for (const infe of children(meta, first, iinf.start + iinf.size).filter((c) => c.type === "infe")) {
    const p = infe.start + infe.header;
    if (meta[p] < 2) continue;
    const id = meta[p] === 2 ? u16(meta, p + 4) : u32(meta, p + 4);
    if (!keep.has(id)) meta[p + 3] |= 1;
  }
}

/** iloc's items: [{id, method, baseAt, base, extents: [{offsetAt, offset, length}]}], with the field sizes. */
function parseIloc(meta, iloc) {
  const p0 = iloc.start + iloc.header;
  const version = meta[p0];
  let p = p0 + 4;
  const offsetSize = meta[p] >> 4;
  const lengthSize = meta[p] & 15;
  const baseSize = meta[p + 1] >> 4;
  const indexSize = version === 1 || version === 2 ? meta[p + 1] & 15 : 0;
  p += 2;
  const count = version < 2 ? u16(meta, p) : u32(meta, p);
  p += version < 2 ? 2 : 4;
  const items = [];
  for (let i = 0; i < count; i++) {
    const id = version < 2 ? u16(meta, p) : u32(meta, p);
    p += version < 2 ? 2 : 4;
    let method = 0;
    if (version === 1 || version === 2) {
      method = u16(meta, p) & 15;
      p += 2;
    }
    p += 2; // data_reference_index
    const baseAt = p;
    const base = uN(meta, p, baseSize);
    p += baseSize;
    const extentCount = u16(meta, p);
    p += 2;
    const extents = [];
    for (let e = 0; e < extentCount; e++) {
      p += indexSize;
      const offsetAt = p;
      const offset = uN(meta, p, offsetSize);
      p += offsetSize;
      const length = uN(meta, p, lengthSize);
      p += lengthSize;
      extents.push({ offsetAt, offset, length });
    }
    if (p > iloc.start + iloc.size) throw new Error("iloc runs past its box");
    items.push({ id, method, baseAt, base, extents });
  }
  return { offsetSize, lengthSize, baseSize, items };
}

/** The item id the primary item's thumbnail has (iref `thmb` from it to the primary), or null; that reference is
 * renamed, so the thumbnail reads as an image of its own. */
function thumbnailOf(meta, kids, primary) {
  const iref = kids.find((c) => c.type === "iref");
  if (!iref) return null;
  const wide = meta[iref.start + iref.header] !== 0; // version 1: 32-bit item ids
  for (const ref of children(meta, iref.start + iref.header + 4, iref.start + iref.size)) {
    if (ref.type !== "thmb") continue;
    let p = ref.start + ref.header;
    const from = wide ? u32(meta, p) : u16(meta, p);
    p += wide ? 4 : 2;
    const count = u16(meta, p);
    p += 2;
    for (let i = 0; i < count; i++, p += wide ? 4 : 2) {
      if ((wide ? u32(meta, p) : u16(meta, p)) === primary) {
        meta.set([0x66, 0x72, 0x65, 0x65], ref.start + 4); // "free": a reader ignores it, so the thumbnail is an image
        return from;
      }
    }
  }
  return null;
}

/** A small HEIF whose primary item is the photo's own thumbnail (an iPhone's is 320 px): the pixels the engine can
 * look at when the browser cannot decode HEIC (Chromium), in a few KB instead of megabytes; null when there is none. */
export async function heifThumbnail(blob) {
  try {
    const head = await read(blob, 0, 16);
    return fourcc(head, 4) === "ftyp" ? await heifMeta(blob, { thumbnail: true }) : null;
  } catch {
    return null;
  }
}

async function heifMeta(blob, { thumbnail = false } = {}) {
  const boxes = await topBoxes(blob);
  const ftyp = boxes.find((b) => b.type === "ftyp");
  const metaBox = boxes.find((b) => b.type === "meta");
  if (!ftyp || !metaBox || metaBox.size > MAX_HEAD || ftyp.size > 4096) return null;
  const brands = await read(blob, ftyp.start, ftyp.start + ftyp.size);
  const names = [];
  for (let i = 8; i + 4 <= brands.length; i += 4) if (i !== 12) names.push(fourcc(brands, i));
  if (!names.some((n) => HEIF_BRANDS.has(n))) return null; // MP4, MOV, CR3 ...: sent whole
  const meta = await read(blob, metaBox.start, metaBox.start + metaBox.size);
  const kids = children(meta, metaBox.header + 4, meta.length);
  const iinf = kids.find((c) => c.type === "iinf");
  const ilocBox = kids.find((c) => c.type === "iloc");
  if (!iinf || !ilocBox) return null;
  const wanted = metadataItems(meta, iinf);
  if (thumbnail) { // the thumbnail becomes the primary item (pitm keeps its length), its bytes join the mdat
    const pitm = kids.find((c) => c.type === "pitm");
    if (!pitm) return null;
    const wide = meta[pitm.start + pitm.header] !== 0;
    const at = pitm.start + pitm.header + 4;
    const thumb = thumbnailOf(meta, kids, wide ? u32(meta, at) : u16(meta, at));
    if (thumb === null) return null;
    putN(meta, at, wide ? 4 : 2, thumb);
    wanted.add(thumb);
    hideOthers(meta, iinf, wanted); // the full picture's items, whose bytes are left out, are hidden from readers
  }
  const iloc = parseIloc(meta, ilocBox);
  const parts = [];
  let total = 0;
  const mdatStart = ftyp.size + meta.length;
  const mdatHeader = 8;
  for (const item of iloc.items) {
    if (!wanted.has(item.id) || item.method !== 0) continue; // idat items are inside meta already
    for (const ext of item.extents) {
      const start = item.base + ext.offset;
      if (!ext.length) return null; // "to the end of the file": it would not be once reduced
      const length = ext.length;
      if (start + length > blob.size || total + length > MAX_ITEMS) return null;
      const bytes = await read(blob, start, start + length);
      const at = mdatStart + mdatHeader + total;
      if (iloc.offsetSize) {
        if (iloc.baseSize) putN(meta, item.baseAt, iloc.baseSize, 0);
        if (at >= 2 ** (8 * iloc.offsetSize)) return null;
        putN(meta, ext.offsetAt, iloc.offsetSize, at);
      } else if (iloc.baseSize && item.extents.length === 1) {
        putN(meta, item.baseAt, iloc.baseSize, at);
      } else {
        return null;
      }
      parts.push(bytes);
      total += length;
    }
  }
  const out = new Uint8Array(mdatStart + mdatHeader + total);
  out.set(await read(blob, ftyp.start, ftyp.start + ftyp.size), 0);
  out.set(meta, ftyp.size);
  putN(out, mdatStart, 4, mdatHeader + total);
  out.set([0x6d, 0x64, 0x61, 0x74], mdatStart + 4); // "mdat"
  let at = mdatStart + mdatHeader;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { metadataOnly } from "../../extension/src/lib/slices.js";

const CORPUS = process.env.POSTGUARD_CORPUS ?? new URL("../../../shared/corpus/metadata/", import.meta.url).pathname;
const have = (rel) => existsSync(`${CORPUS}/${rel}`);

/** A Blob that counts the bytes read through slice(): the point is not to read the whole file. */
function counted(bytes) {
  const blob = new Blob([bytes]);
  const seen = { bytes: 0 };
  return { seen, size: blob.size, slice: (a, b) => {
    const part = blob.slice(a, b);
    seen.bytes += part.size;
    return part;
  } };
}

function jpeg(segments, scan = 3_000_000) {
  const parts = [Uint8Array.of(0xff, 0xd8)];
  for (const [marker, body] of segments) {
    const len = body.length + 2;
    parts.push(Uint8Array.of(0xff, marker, len >> 8, len & 255), body);
  }
  parts.push(Uint8Array.of(0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0), new Uint8Array(scan).fill(0x55),
    Uint8Array.of(0xff, 0xd9));
  return Buffer.concat(parts);
}

test("a big JPEG gives its segments before SOS, then EOI, read by slices", async () => {
  const exif = Buffer.concat([Buffer.from("Exif\0\0"), new Uint8Array(30000).fill(7)]);
  const xmp = Buffer.concat([Buffer.from("http://ns.adobe.com/xap/1.0/\0"), new Uint8Array(60000).fill(9)]);
  const file = jpeg([[0xe1, exif], [0xe1, xmp], [0xdb, new Uint8Array(65)]]);
  const blob = counted(file);
  const out = await metadataOnly(blob);
  const sos = file.indexOf(Buffer.from([0xff, 0xda]));
  assert.deepEqual(Buffer.from(out.subarray(0, sos)), file.subarray(0, sos));
  assert.deepEqual([...out.subarray(sos)], [0xff, 0xd9]);
  assert.ok(blob.seen.bytes < 300_000, `read ${blob.seen.bytes} bytes of ${file.length}`);
});

test("small files, other formats and broken structures are sent whole (null)", async () => {
  assert.equal(await metadataOnly(new Blob([jpeg([], 1000)])), null, "small");
  assert.equal(await metadataOnly(new Blob([new Uint8Array(1_000_000)])), null, "not a photo");
  const broken = jpeg([[0xe1, new Uint8Array(100)]]);
  broken[2 + 2 + 102] = 0x00; // the second marker is not a marker
  assert.equal(await metadataOnly(new Blob([broken])), null);
  const noScan = Buffer.concat([Uint8Array.of(0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff), new Uint8Array(700_000)]);
  assert.equal(await metadataOnly(new Blob([noScan])), null, "a segment running past the file");
  const mp4 = Buffer.concat([Uint8Array.of(0, 0, 0, 16), Buffer.from("ftypisom"), new Uint8Array(4),
    Uint8Array.of(0, 0, 0, 8), Buffer.from("free"), new Uint8Array(700_000)]);
  assert.equal(await metadataOnly(new Blob([mp4])), null, "MP4 is not HEIF");
});

test("an iPhone HEIC gives ftyp, meta and its Exif item only", { skip: !have("exifr/heic-iphone.heic") && "no corpus" },
  async () => {
    const file = readFileSync(`${CORPUS}/exifr/heic-iphone.heic`);
    const blob = counted(file);
    const out = await metadataOnly(blob);
    assert.ok(out.length < 20_000, `${out.length} bytes`);
    assert.ok(blob.seen.bytes < 50_000, `read ${blob.seen.bytes} bytes of ${file.length}`);
    assert.equal(Buffer.from(out.subarray(4, 8)).toString(), "ftyp");
    assert.ok(Buffer.from(out).includes(Buffer.from("Exif\0\0")) || Buffer.from(out).includes(Buffer.from("MM\0*")));
  });

test("a truncated HEIC is sent whole", { skip: !have("exifr/heic-iphone7.truncated50.heic") && "no corpus" },
  async () => {
    assert.equal(await metadataOnly(new Blob([readFileSync(`${CORPUS}/exifr/heic-iphone7.truncated50.heic`)])), null);
  });

// Files in the page: read them for checking, and put cleaned ones back through DataTransfer.

import { base64ToBytes, bytesToBase64 } from "../lib/service.js";
import { MIN_SIZE, heifThumbnail, metadataOnly } from "../lib/slices.js";

/** {name, type, data} with data as a data: URL, which the service accepts as base64. */
export function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, type: file.type, data: String(reader.result) });
    reader.onerror = () => reject(reader.error ?? new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

/** A File from the service's answer, keeping the original's name and date. */
export function toFile(cleaned, original) {
  return new File([base64ToBytes(cleaned.data)], original.name, {
    type: original.type || cleaned.type, lastModified: original.lastModified,
  });
}

/** A DataTransfer holding these files (what an <input type=file>, a drop or a paste carries). */
export function transferOf(files) {
  const dt = new DataTransfer();
  for (const f of files) dt.items.add(f);
  return dt;
}

/** Put these files in the input, as if the person had picked them. */
export function setInputFiles(input, files) {
  input.files = transferOf(files).files;
}

// The engine looks at a picture at most this size (rules/images/phash.py decode: the library hash, the badge; faces
// at 960): a copy this size gives it the pixels it would have used, in about 5% of a 4 MB photo's bytes.
export const PREVIEW_SIDE = 1024;
const PREVIEW_QUALITY = 0.85; // PDQ matched every JPEG q30 copy in the research (../shared/research/pupil-images.md)

/** A copy of the picture at most `side` px on its long side (EXIF orientation applied, as the engine applies it),
 * as JPEG bytes; null when the browser cannot decode the file (Chromium and HEIC) or has no OffscreenCanvas. */
export async function previewOf(file, side = PREVIEW_SIDE) {
  if (typeof createImageBitmap !== "function" || typeof OffscreenCanvas !== "function") return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
  try {
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, width, height);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: PREVIEW_QUALITY });
    return new Uint8Array(await blob.arrayBuffer());
  } finally {
    bitmap.close();
  }
}

/** The file's SHA-256 in hex (the service's fingerprint of a file), or null when the page cannot compute it. */
async function sha256(file) {
  try {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  } catch {
    return null;
  }
}

/** The copy sent as a big photo's pixels: the picture downscaled in the page or, when the browser cannot decode it
 * (HEIC in Chromium), the photo's own thumbnail as a small HEIF (an iPhone's is 320 px: the library hash still
 * matches at that size, faces and badges are found less often there; the proxy checks the whole upload). */
async function pixelsOf(file) {
  return (await previewOf(file)) ?? (await heifThumbnail(file));
}

/** What the check needs of a file: with `slices`, a big JPEG's or HEIF's metadata only (read by File.slice, a few
 * KB instead of megabytes) and, with `previews`, a downscaled copy as its pixels (`pixels`, for the school's photo
 * library, badge and faces); otherwise, or when either cannot be made, the whole file. `partial` says which. */
export async function readForCheck(file, slices, previews = false) {
  if (slices) {
    const big = file.size >= MIN_SIZE;
    const [head, preview, digest] = await Promise.all([metadataOnly(file), previews && big ? pixelsOf(file) : null,
      big ? sha256(file) : null]);
    if (head && (!previews || preview)) {
      const out = { name: file.name, type: file.type, data: bytesToBase64(head), partial: true };
      if (preview) out.pixels = bytesToBase64(preview);
      if (digest) out.sha256 = digest; // so an answer given here covers the whole file the proxy sees
      return out;
    }
  }
  return readFile(file);
}

// Files in the page: read them for checking, and put cleaned ones back through DataTransfer.

import { base64ToBytes, bytesToBase64 } from "../lib/service.js";
import { metadataOnly } from "../lib/slices.js";

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

/** What the check needs of a file: with `slices`, a big JPEG's or HEIF's metadata only (read by File.slice, a few
 * KB instead of megabytes); otherwise, or for any other file, the whole file. `partial` says which. */
export async function readForCheck(file, slices) {
  if (slices) {
    const head = await metadataOnly(file);
    if (head) return { name: file.name, type: file.type, data: bytesToBase64(head), partial: true };
  }
  return readFile(file);
}

// Files in the page: read them for checking, and put cleaned ones back through DataTransfer.

import { base64ToBytes } from "../lib/service.js";

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

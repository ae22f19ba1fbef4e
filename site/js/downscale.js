// Shrinking big photos in the browser before upload: a 12 MP phone photo is ~5 MB, but the
// model only looks at input_size x input_size pixels, so ~2x that is plenty and uploads fast.

export const MAX_SIDE = 1024;
const JPEG_QUALITY = 0.85;

/** Longest side the upload needs for a model with this input size. */
export function targetSide(inputSize) {
  const size = Number(inputSize) > 0 ? Number(inputSize) : 224;
  return Math.min(MAX_SIDE, Math.round(2 * size));
}

// Decoded pixels, upright. createImageBitmap applies EXIF orientation with "from-image";
// the <img> fallback (older Safari) applies it too (CSS image-orientation defaults to it).
async function decode(file) {
  if (typeof createImageBitmap === "function") {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      // fall through to <img>
    }
  }
  const src = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = src;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(src);
  }
}

function toJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("JPEG encoding failed"))),
      "image/jpeg",
      JPEG_QUALITY,
    );
  });
}

/**
 * What to upload for `file`: the original when it is already small (or the browser cannot
 * decode it, e.g. HEIC in Chrome: the server can), else an upright JPEG whose longest side
 * is targetSide(inputSize).
 * @returns {Promise<{blob: Blob, resized: boolean, width: number|null, height: number|null,
 *                    originalWidth: number|null, originalHeight: number|null}>}
 */
export async function prepareUpload(file, inputSize) {
  const keep = { blob: file, resized: false, width: null, height: null,
    originalWidth: null, originalHeight: null };
  let image;
  try {
    image = await decode(file);
  } catch {
    return keep;
  }
  const width = image.naturalWidth || image.width;
  const height = image.naturalHeight || image.height;
  const side = targetSide(inputSize);
  const scale = side / Math.max(width, height);
  const sized = { ...keep, width, height, originalWidth: width, originalHeight: height };
  if (scale >= 1) {
    image.close?.();
    return sized;
  }
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent pixels become white, as on the server
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  image.close?.();
  let blob;
  try {
    blob = await toJpeg(canvas);
  } catch {
    return sized;
  }
  if (blob.size >= file.size) return sized; // re-encoding did not help: keep the original
  return { ...sized, blob, resized: true, width: canvas.width, height: canvas.height };
}

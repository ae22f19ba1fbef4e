// What to tell a visitor for each failure: a headline, a hint, and whether resending the
// same photo can help (network hiccups, server trouble) or another photo is needed.

const BY_CODE = {
  too_large: ["This file is too large", "Try a smaller photo, or a screenshot of it.", false],
  too_many_pixels: ["This image has too many pixels", "Try a smaller version of it.", false],
  not_an_image: ["This file isn't a photo the model can read",
    "Choose a photo: JPEG, PNG or WebP work everywhere.", false],
  unsupported_format: ["This image format isn't supported",
    "Save it as JPEG or PNG and try that.", false],
  unsupported_media_type: ["This kind of file isn't supported",
    "Choose a photo: JPEG, PNG or WebP work everywhere.", false],
  empty_body: ["This file is empty", "Choose another photo.", false],
  missing_field: ["The photo didn't reach the model", "Try again.", true],
  internal_error: ["Something went wrong on the server", "Try again in a moment.", true],
  network: ["Can't reach the server",
    "Check your internet connection, then try again.", true],
  timeout: ["The server took too long to answer", "Try again in a moment.", true],
  bad_response: ["The server's answer didn't make sense",
    "Try again in a moment.", true],
};

const BY_STATUS = {
  400: ["The server couldn't use this file", "Choose another photo.", false],
  404: ["The model's web address isn't right",
    "The page's API address (config.js) may be wrong; tell whoever runs this page.", false],
  413: BY_CODE.too_large,
  415: BY_CODE.unsupported_media_type,
  422: BY_CODE.too_many_pixels,
  429: ["Too many photos at once", "Wait a moment, then try again.", true],
  503: ["The model isn't available right now", "Try again in a moment.", true],
};

/**
 * @param {{code: string, status: number, message?: string}} error an ApiError
 * @returns {{title: string, detail: string, retry: boolean}} detail prefers the server's own
 *   message (written for a person), falling back to our hint.
 */
export function describeError(error) {
  const status = error.status || 0;
  const [title, hint, retry] = BY_CODE[error.code]
    || BY_STATUS[status]
    || (status >= 500
      ? ["The server had a problem", "Try again in a moment.", true]
      : ["Something went wrong", "Try again, or choose another photo.", true]);
  const serverSaid = error.message && error.message !== error.code ? error.message : "";
  return { title, detail: serverSaid || hint, retry };
}

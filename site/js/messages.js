// What to tell a visitor for each failure: a headline, a hint, and whether resending the
// same photo can help (network hiccups, server trouble) or another photo is needed.

const NOT_READY = "This demo isn't ready yet — the model hasn't been deployed.";

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
  model_unavailable: [NOT_READY, "Try again later.", true],
  internal_error: ["Something went wrong on the server", "Try again in a moment.", true],
  // POST /api/feedback
  feedback_disabled: ["This page no longer collects photos", "Nothing was sent.", false],
  too_many_requests: ["Too many photos were sent just now", "Wait a moment, then try again.",
    true],
  feedback_unavailable: ["The photo couldn't be saved", "Nothing was kept; try again later.",
    true],
  bad_label: ["The server couldn't use this answer", "Reload the page and try again.", false],
  network: ["Can't reach the server",
    "Check your internet connection, then try again.", true],
  timeout: ["The server took too long to answer", "Try again in a moment.", true],
  bad_response: ["The server's answer didn't make sense",
    "Try again in a moment.", true],
};

const BY_STATUS = {
  400: ["The server couldn't use this file", "Choose another photo.", false],
  404: ["The model's web address isn't right",
    "The page's API address may be wrong; tell whoever runs this page.", false],
  413: BY_CODE.too_large,
  415: BY_CODE.unsupported_media_type,
  422: BY_CODE.too_many_pixels,
  429: ["Too many photos at once", "Wait a moment, then try again.", true],
  503: ["The model isn't available right now", "Try again in a moment.", true],
};

// Text meant for whoever runs the server, not for visitors: app-setting names (MODEL_PATH),
// file paths (/home/site/model.onnx, C:\...), file names and shell commands.
const OPERATOR_TEXT = new RegExp([
  String.raw`\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b`,
  String.raw`(^|[\s"'(=])(\.{1,2}|~)?\/\w`,
  String.raw`[A-Za-z]:\\|\\\w+\\`,
  String.raw`\.(onnx|py|json|ya?ml|log|sh)\b`,
  "`",
  String.raw`(^|\s)--?[a-z]`,
  String.raw`\b(azd|az|func|pip|python3?|curl)\s+[a-z]`,
  String.raw`\b(make|isit) (serve|demo|train|check|predict|evaluate|test)\b`,
].join("|"));

/** Whether a server's message may be shown to a visitor as it is. */
export function visitorSafe(message) {
  return Boolean(message) && !OPERATOR_TEXT.test(message);
}

/**
 * @param {{code: string, status: number, message?: string}} error an ApiError
 * @returns {{title: string, detail: string, retry: boolean, operator: boolean}} detail prefers
 *   the server's own message (written for a person) unless it is operator text; operator is
 *   true when the problem is the deployment's, not the visitor's (no request id to report).
 */
export function describeError(error) {
  const status = error.status || 0;
  const [title, hint, retry] = BY_CODE[error.code]
    || BY_STATUS[status]
    || (status >= 500
      ? ["The server had a problem", "Try again in a moment.", true]
      : ["Something went wrong", "Try again, or choose another photo.", true]);
  const operator = error.code === "model_unavailable";
  const serverSaid = !operator && error.message !== error.code && visitorSafe(error.message)
    ? error.message : "";
  return { title, detail: serverSaid || hint, retry, operator };
}

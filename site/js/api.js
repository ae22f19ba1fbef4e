// Talking to the isit API. Every failure becomes an ApiError the view can explain.
import { API_BASE_URL } from "../config.js";

// Generous: a Function on a consumption plan may need a cold start (loading the model).
const TIMEOUT_MS = 60000;

export class ApiError extends Error {
  /**
   * @param {string} code   the API's snake_case code, or "network" / "timeout" / "bad_response"
   * @param {number} status HTTP status (0 when no answer arrived)
   * @param {string} message the server's message for a person, if it sent one
   */
  constructor(code, status, message, requestId = "") {
    super(message || code);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.requestId = requestId; // the server's X-Request-Id, for reporting a problem
  }
}

function url(path) {
  return `${API_BASE_URL.replace(/\/+$/, "")}${path}`;
}

// One fetch with a timeout that also honours the caller's AbortSignal.
async function request(path, init = {}, signal) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, TIMEOUT_MS);
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  let response;
  try {
    response = await fetch(url(path), { ...init, signal: controller.signal });
  } catch (err) {
    if (signal?.aborted) throw err; // the visitor moved on; nothing to show
    if (timedOut) throw new ApiError("timeout", 0, "");
    throw new ApiError("network", 0, "");
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page, or an empty body: handled below by status.
  }
  if (!response.ok) {
    const error = body && typeof body.error === "object" ? body.error : {};
    throw new ApiError(error.code || `http_${response.status}`, response.status, error.message,
      response.headers.get("X-Request-Id") || "");
  }
  if (body === null) throw new ApiError("bad_response", response.status, "");
  return body;
}

/** GET /api/model: name, version, labels, input_size, ... */
export function fetchModel(signal) {
  return request("/api/model", { headers: { Accept: "application/json" } }, signal);
}

/**
 * POST /api/classify?explain=1 (the reply may then carry "heatmap" and "crop"). Images with
 * a known image/* type go as raw bytes (smallest request); anything else goes as multipart
 * so the server can still sniff the format.
 */
export function classify(blob, filename, signal) {
  const headers = { Accept: "application/json" };
  let body = blob;
  if (blob.type.startsWith("image/")) {
    headers["Content-Type"] = blob.type;
  } else {
    body = new FormData();
    body.append("image", blob, filename || "photo");
  }
  return request("/api/classify?explain=1", { method: "POST", headers, body }, signal);
}

/**
 * POST /api/feedback: the photo the model answered (the same bytes sent to classify) and the
 * visitor's verdict: fields label (a class or "none"), answer, model_version.
 */
export function sendFeedback(blob, filename, fields, signal) {
  const body = new FormData();
  body.append("image", blob, filename || "photo");
  for (const [name, value] of Object.entries(fields)) {
    if (value) body.append(name, value);
  }
  return request("/api/feedback", {
    method: "POST", headers: { Accept: "application/json" }, body,
  }, signal);
}

// Wiring: where photos come from (pick, camera, drop, paste) and the upload flow.
import { classify, fetchModel } from "./api.js";
import { prepareUpload } from "./downscale.js";
import * as feedback from "./feedback.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);
const SLOW_MS = 5000; // after this long, explain the wait

let model = null; // GET /api/model, once loaded
let upload = null; // what was last prepared, kept so "Try again" resends the same bytes
let inFlight = null; // AbortController of the running request
let latest = 0; // counts photos, so a slow-to-shrink photo can't overwrite a newer one

async function loadModel() {
  try {
    model = await fetchModel();
    view.showClasses(model);
    feedback.describePrivacy(model);
  } catch (error) {
    view.showClassesError(error, loadModel);
  }
}

async function send() {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  view.showBusy();
  feedback.reset();
  const started = performance.now();
  const slow = setTimeout(view.showSlow, SLOW_MS);
  try {
    const result = await classify(upload.blob, upload.name, controller.signal);
    view.showResult(result, upload, (performance.now() - started) / 1000, model?.labels || []);
    feedback.offer(model, result, upload);
  } catch (error) {
    if (controller.signal.aborted) return; // superseded by a newer photo
    view.showError(error, { name: upload.name, onRetry: send, onPick: () => $("file").click() });
  } finally {
    clearTimeout(slow);
    if (inFlight === controller) inFlight = null;
  }
}

// Files a browser labels as something other than an image (PDF, text, video) are refused
// here; an empty or generic type may still be an image (HEIC on some systems), so the
// server decides those.
function obviouslyNotAnImage(file) {
  return file.type !== "" && file.type !== "application/octet-stream"
    && !file.type.startsWith("image/");
}

async function handleFile(file) {
  if (!file) return;
  inFlight?.abort();
  feedback.reset(); // a question about the last photo must not stay under this one
  const mine = ++latest;
  const name = file.name || "pasted image";
  const onPick = () => $("file").click();
  view.clearPreview(); // the last photo must not stand in for this one, even for a moment
  if (file.size === 0) {
    view.showError({ code: "empty_body", status: 0 }, { name, onPick });
    return;
  }
  if (obviouslyNotAnImage(file)) {
    view.showError({ code: "not_an_image", status: 0 }, { name, onPick });
    return;
  }
  view.showPreparing();
  const prepared = await prepareUpload(file, model?.input_size);
  if (mine !== latest) return;
  upload = { ...prepared, name, originalBytes: file.size };
  view.showPreview(upload.blob, name, prepared.width !== null);
  await send();
}

function firstImage(dataTransfer) {
  const files = [...(dataTransfer?.files || [])];
  return files.find((f) => f.type.startsWith("image/")) || files[0];
}

function wireInputs() {
  $("pick").addEventListener("click", () => $("file").click());
  $("camera").addEventListener("click", () => $("capture").click());
  for (const input of [$("file"), $("capture")]) {
    input.addEventListener("change", () => {
      handleFile(input.files[0]);
      input.value = ""; // choosing the same file again still fires "change"
    });
  }
  // Drops anywhere on the page count; without preventDefault the browser would open the file.
  let depth = 0;
  window.addEventListener("dragenter", (e) => {
    e.preventDefault();
    depth += 1;
    view.setDragging(true);
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) view.setDragging(false);
  });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    view.setDragging(false);
    handleFile(firstImage(e.dataTransfer));
  });
  document.addEventListener("paste", (e) => {
    const file = firstImage(e.clipboardData);
    if (file) {
      e.preventDefault();
      handleFile(file);
    }
  });
}

wireInputs();
loadModel();

// Drawing the page's states. Only textContent is used for server data: labels are not HTML.
// One state at a time (idle, busy, known, uncertain, unknown, error), on #result and <body>.
import { describeHeat, drawHeat, heatGrid } from "./heatmap.js";
import { formatBytes, formatPercent, humanLabel, notSureWords, pageTitle } from "./labels.js";
import { describeError } from "./messages.js";

const $ = (id) => document.getElementById(id);
let previewToken = 0; // a late "can't decode" from an older photo must not touch a newer one

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function button(text, onClick, className = "button") {
  const node = el("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

/** The classes the model knows, shown before any upload. */
export function showClasses(model) {
  const box = $("classes");
  box.replaceChildren(el("span", "classes-intro", "This model knows: "));
  const list = el("ul", "chips");
  for (const label of model.labels || []) list.append(el("li", "chip", humanLabel(label)));
  box.append(list);
  const title = pageTitle(model);
  $("title").textContent = title;
  document.title = title;
  const parts = [model.name, model.version && `version ${model.version}`].filter(Boolean);
  const measured = heldOutSummary(model.metrics || {});
  if (measured) parts.push(measured);
  $("model-info").textContent = parts.length ? `Model: ${parts.join(", ")}.` : "";
}

/** "right on 37 of 40 test photos, not sure on 3": the answers visitors would have got. */
function heldOutSummary(metrics) {
  const outcomes = metrics.outcomes;
  // Only held-out numbers are worth showing; a model without them says nothing.
  if (outcomes && Number(outcomes.n) > 0) {
    const where = /cross-validation/.test(metrics.evaluation || "")
      ? "held-out photos (cross-validated)" : "test photos";
    const notSure = outcomes.not_sure ? `, not sure on ${outcomes.not_sure}` : "";
    return `right on ${outcomes.right} of ${outcomes.n} ${where}${notSure}`;
  }
  const tested = Number(metrics.n ?? metrics.test_images) || 0;
  if (typeof metrics.accuracy === "number" && tested > 0) { // models made before outcomes
    return `right on ${Math.round(metrics.accuracy * tested)} of ${tested} held-out photos`;
  }
  return "";
}

export function showClassesError(error, onRetry) {
  const { title } = describeError(error);
  const why = title.replace(/\.$/, "").toLowerCase();
  $("classes").replaceChildren(
    el("span", "classes-error", `Couldn't load what this model knows (${why}). `),
    button("Retry", onRetry, "link-button"),
  );
}

/**
 * The photo being judged; alt text names the file. `decodable` is false when this browser
 * can't read it (HEIC, TIFF in Chrome): a note says so instead of a broken image.
 */
export function showPreview(blob, name, decodable = true) {
  clearPreview();
  const token = previewToken;
  const img = $("preview");
  const noPreview = () => {
    if (token !== previewToken) return;
    $("frame").hidden = true;
    $("no-preview").textContent = `No preview of ${name} in this browser; it is sent as it is.`;
    $("no-preview").hidden = false;
  };
  img.onerror = noPreview;
  if (decodable) {
    img.src = URL.createObjectURL(blob);
    img.alt = `Your photo: ${name}`;
    $("frame").hidden = false;
  } else {
    noPreview();
  }
  $("drop").dataset.state = "filled";
  $("drop-hint").querySelector(".drop-big").textContent = "Drop or paste another photo";
}

/** No photo: after a refused file nothing may look as if it were that file. */
export function clearPreview() {
  previewToken += 1;
  const img = $("preview");
  img.onerror = null;
  if (img.src) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
  img.alt = "";
  $("frame").hidden = true;
  $("heat").hidden = true;
  $("no-preview").hidden = true;
  $("no-preview").textContent = "";
  $("drop").dataset.state = "empty";
  $("drop-hint").querySelector(".drop-big").textContent = "Drop a photo here";
}

export function setDragging(on) {
  $("drop").classList.toggle("dragging", on);
}

function setResult(state, ...children) {
  const box = $("result");
  // A keyboard user who pressed "Try again" would lose focus when the button goes away (as
  // "Choose a photo" does on an error: the error's own buttons replace it).
  const actions = state === "error" ? ".result-actions, .drop .actions" : ".result-actions";
  const actionHadFocus = Boolean(document.activeElement?.closest(actions));
  box.dataset.state = state;
  document.body.dataset.state = state;
  $("heat").hidden = true;
  box.replaceChildren(...children);
  $("result-actions").replaceChildren();
  if (actionHadFocus) box.focus({ preventScroll: true });
  if (state !== "busy") requestAnimationFrame(() => reveal(box.parentElement));
}

// On a phone the answer sits below the photo: bring it (and its buttons) into view.
function reveal(section) {
  const calm = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  section.scrollIntoView({ block: "nearest", behavior: calm ? "auto" : "smooth" });
}

export function showPreparing() {
  setResult("busy", el("span", "spinner"), el("p", "busy-text", "Preparing your photo…"));
}

export function showBusy() {
  setResult("busy", el("span", "spinner"), el("p", "busy-text", "Asking the model…"));
}

/** Still busy after a while: say why, so nobody gives up on a cold start. */
export function showSlow() {
  const text = document.querySelector("#result[data-state=busy] .busy-text");
  if (text) {
    text.textContent = "Still asking… the server may be waking up, which can take up to a "
      + "minute the first time.";
  }
}

function scoreList(scores, highlight) {
  const list = el("ul", "scores");
  const sorted = [...scores].sort((a, b) => b.score - a.score);
  for (const { label, score } of sorted) {
    const item = el("li", label === highlight ? "score top" : "score");
    const bar = el("span", "bar");
    bar.setAttribute("aria-hidden", "true");
    const fill = el("span", "fill");
    fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    bar.append(fill);
    item.append(el("span", "score-label", humanLabel(label)),
      el("span", "score-value", formatPercent(score)), bar);
    list.append(item);
  }
  return list;
}

function duration(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

function uploadNote(upload, seconds) {
  const sent = `Sent ${formatBytes(upload.blob.size)}`;
  const shrunk = upload.resized
    ? ` (shrunk from ${upload.originalWidth}×${upload.originalHeight}, ${formatBytes(upload.originalBytes)})`
    : "";
  return el("p", "note", `${sent}${shrunk} · answered in ${duration(seconds)}`);
}

/** The model's answer: big verdict, a bar per class, then "Show where it looked". */
export function showResult(result, upload, seconds, knownLabels) {
  drawAnswer(result, upload, seconds, knownLabels);
  const grid = heatGrid(result.heatmap);
  if (grid && !$("frame").hidden) whereToggle(grid, result);
}

// A toggle (aria-pressed) that lays the heatmap over the photo and says in words where it is.
function whereToggle(grid, result) {
  const said = el("p", "where-text");
  said.setAttribute("aria-live", "polite");
  const label = humanLabel(result.heatmap.label || result.label || result.best_guess || "");
  const toggle = button("Show where it looked", async () => {
    const on = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(on));
    const img = $("preview");
    if (on && !img.complete) await img.decode().catch(() => {}); // its size places the map
    if (!toggle.isConnected) return; // a newer photo or answer came meanwhile
    if (on) drawHeat($("heat"), grid, result.crop, img.naturalWidth, img.naturalHeight);
    $("heat").hidden = !on;
    if (on) reveal($("frame")); // on a phone the photo sits above the answer
    said.textContent = on
      ? `${describeHeat(grid)} The brighter (yellow), the more that part counted for ${label}.`
      : "";
  });
  toggle.setAttribute("aria-pressed", "false");
  toggle.setAttribute("aria-controls", "heat");
  $("result-actions").replaceChildren(toggle, said);
}

function drawAnswer(result, upload, seconds, knownLabels) {
  const scores = result.scores || [];
  if (result.unknown) {
    const labels = knownLabels.length ? knownLabels : scores.map((s) => s.label);
    // No percentages or bars: for a photo unlike the training photos they mean nothing.
    const guess = result.unlike !== "like other" && result.best_guess;
    setResult("unknown",
      el("p", "verdict", "Not sure"),
      el("p", "explain",
        `This doesn't look like any of: ${labels.map(humanLabel).join(", ")}.`),
      el("p", "explain", notSureWords(result.unlike)),
      ...(guess ? [el("p", "explain guess", `Only a guess: ${humanLabel(guess)}.`)] : []),
      uploadNote(upload, seconds));
    return;
  }
  const verdict = el("p", "verdict");
  if (result.uncertain) { // answered, but the top two classes are close
    const [first, second] = [...scores].sort((a, b) => b.score - a.score);
    verdict.append(el("span", "verdict-hedge", "Probably "),
      el("span", "verdict-label", humanLabel(result.label)),
      el("span", "verdict-score", ` — ${formatPercent(result.confidence)}`));
    setResult("uncertain", verdict,
      el("p", "explain", second
        ? `It is torn between ${humanLabel(first.label)} and ${humanLabel(second.label)}.`
        : "It is not confident about this one."),
      scoreList(scores, result.label), uploadNote(upload, seconds));
    return;
  }
  verdict.append(el("span", "verdict-label", humanLabel(result.label)),
    el("span", "verdict-score", ` — ${formatPercent(result.confidence)}`));
  setResult("known", verdict, scoreList(scores, result.label), uploadNote(upload, seconds));
}

/**
 * A failure, in words, naming the file, with "Try again" when resending can help. A file the
 * model can't use leaves no preview behind (nothing looks like the bad file). A deployment
 * problem (no model) shows no request id: there is nothing for a visitor to report.
 */
export function showError(error, { name, onRetry, onPick }) {
  const { title, detail, retry, operator } = describeError(error);
  if (!retry) clearPreview();
  setResult("error", ...(name ? [el("p", "error-file", name)] : []),
    el("p", "error-title", title), el("p", "explain", detail),
    ...(error.requestId && error.status >= 500 && !operator
      ? [el("p", "note", `Request id: ${error.requestId}`)] // what the message says to report
      : []));
  const actions = [];
  if (retry) actions.push(button("Try again", onRetry, "button primary"));
  actions.push(button("Choose another photo", onPick, retry ? "button" : "button primary"));
  $("result-actions").replaceChildren(...actions);
}

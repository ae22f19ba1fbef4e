// Drawing the page's states. Only textContent is used for server data: labels are not HTML.
import { formatBytes, formatPercent, humanLabel } from "./labels.js";
import { describeError } from "./messages.js";

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, onClick, className = "button") {
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
  $("classes").replaceChildren(
    el("span", "classes-error", `Couldn't load what this model knows (${title.toLowerCase()}). `),
    button("Retry", onRetry, "link-button"),
  );
}

/** The photo being judged; alt text names the file. */
export function showPreview(blob, name) {
  const img = $("preview");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  img.alt = `Your photo: ${name}`;
  img.hidden = false;
  const note = $("no-preview");
  note.hidden = true;
  img.onerror = () => { // e.g. HEIC or TIFF: no preview here, but the server reads them
    img.hidden = true;
    note.textContent = `No preview of ${name} in this browser; the model can still read it.`;
    note.hidden = false;
  };
  $("drop").dataset.state = "filled";
  $("drop-hint").querySelector(".drop-big").textContent = "Drop or paste another photo, or";
}

export function setDragging(on) {
  $("drop").classList.toggle("dragging", on);
}

function setResult(state, ...children) {
  const box = $("result");
  // A keyboard user who pressed "Try again" would lose focus when the button goes away.
  const actionHadFocus = $("result-actions").contains(document.activeElement);
  box.dataset.state = state;
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

/** The model's answer: big verdict, then a bar per class. */
export function showResult(result, upload, seconds, knownLabels) {
  const scores = result.scores || [];
  if (result.unknown) {
    const labels = knownLabels.length ? knownLabels : scores.map((s) => s.label);
    const guess = scores.find((s) => s.label === result.best_guess);
    setResult("unknown",
      el("p", "verdict", "Not sure"),
      el("p", "explain",
        `This doesn't look like any of: ${labels.map(humanLabel).join(", ")}.`),
      ...(guess
        ? [el("p", "explain",
          `If it had to pick: ${humanLabel(guess.label)} (${formatPercent(guess.score)}).`)]
        : []),
      scoreList(scores, null),
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

/** A failure, in words, with "Try again" when resending can help. */
export function showError(error, { onRetry, onPick }) {
  const { title, detail, retry } = describeError(error);
  setResult("error", el("p", "error-title", title), el("p", "explain", detail),
    ...(error.requestId && error.status >= 500
      ? [el("p", "note", `Request id: ${error.requestId}`)] // what the message says to report
      : []));
  const actions = [];
  if (retry) actions.push(button("Try again", onRetry, "button primary"));
  actions.push(button("Choose another photo", onPick, retry ? "button" : "button primary"));
  $("result-actions").replaceChildren(...actions);
}

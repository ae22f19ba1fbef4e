// "Was this right?" under an answer. Shown only when the API says the owner turned feedback
// on (GET /api/model: "feedback": true). A photo is sent only after the visitor has read,
// and agreed to, what happens to it; "Don't send" sends nothing at all.
// States on #feedback[data-state]: ask, choose, confirm, sending, sent, declined, error.
import { sendFeedback } from "./api.js";
import { humanLabel } from "./labels.js";
import { describeError } from "./messages.js";
import { button, el } from "./view.js";

const NONE = "none"; // the API's "none of these"
const $ = (id) => document.getElementById(id);
let current = null; // { model, result, upload, controller } of the answer on show

function show(state, ...children) {
  const box = $("feedback");
  // A keyboard user whose button goes away keeps their place: on the next one, or the box.
  const hadFocus = box.contains(document.activeElement);
  box.dataset.state = state;
  box.replaceChildren(...children);
  box.hidden = false;
  if (hadFocus) (box.querySelector("button") || box).focus({ preventScroll: true });
}

function row(...buttons) {
  const node = el("div", "feedback-buttons");
  node.append(...buttons);
  return node;
}

const nameOf = (label) => (label === NONE ? "none of these" : humanLabel(label));

/** The model's answer as the API calls it: a class, or "unknown". */
function answerOf(result) {
  return result.unknown ? "unknown" : result.label;
}

/** No question on show: a new photo, an error, or feedback off. */
export function reset() {
  current?.controller?.abort();
  current = null;
  const box = $("feedback");
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.state;
}

/** The note under the photo says what happens to it, feedback or not. */
export function describePrivacy(model) {
  if (!model?.feedback) return;
  $("privacy").textContent = "Your photo is sent to the model and classified. It is not kept "
    + "unless you choose to send it to the owner of this page after the answer.";
}

/** After an answer: ask "Was this right?" (when the owner turned feedback on). */
export function offer(model, result, upload) {
  reset();
  if (!model?.feedback || !upload?.blob) return;
  current = { model, result, upload, controller: null };
  ask();
}

function ask() {
  const { result } = current;
  const said = result.unknown ? "none of these" : humanLabel(result.label);
  show("ask",
    el("p", "feedback-question", "Was this right?"),
    row(
      button(`Yes, it is ${said}`, () => confirm(result.unknown ? NONE : result.label)),
      button("No, it is…", choose)));
}

function choose() {
  const { model, result } = current;
  const answer = result.unknown ? NONE : result.label;
  const options = [...(model.labels || []), NONE].filter((label) => label !== answer);
  const choices = options.map((label) =>
    button(label === NONE ? "None of these" : humanLabel(label), () => confirm(label)));
  show("choose", el("p", "feedback-question", "What is it?"),
    row(...choices, button("Cancel", ask, "link-button")));
}

function keptFor(model) {
  const days = Number(model.feedback_retention_days) || 0;
  return days > 0 ? ` for up to ${days} days` : "";
}

function confirm(label) {
  show("confirm",
    el("p", "feedback-question", `Send this photo to the owner as “${nameOf(label)}”?`),
    el("p", "explain", `The photo will be kept${keptFor(current.model)} so the owner can `
      + "improve the model. Only the photo and your answer are kept, nothing about you."),
    row(
      button("Send photo", () => send(label), "button primary"),
      button("Don't send", decline)));
}

function decline() {
  show("declined", el("p", "explain", "Nothing was sent. Your photo was not kept."));
}

async function send(label) {
  const mine = current;
  const controller = new AbortController();
  mine.controller = controller;
  show("sending", el("span", "spinner"), el("p", "busy-text", "Sending your photo…"));
  try {
    await sendFeedback(mine.upload.blob, mine.upload.name, {
      label,
      answer: answerOf(mine.result),
      model_version: mine.result.model?.version || "",
    }, controller.signal);
    if (current !== mine) return;
    show("sent", el("p", "feedback-thanks",
      `Thanks! Your photo was sent to the owner as “${nameOf(label)}”.`));
  } catch (error) {
    if (controller.signal.aborted || current !== mine) return; // a newer photo came
    const { title, detail, retry } = describeError(error);
    show("error", el("p", "error-title", `Not sent: ${title.replace(/^./, (c) => c.toLowerCase())}`),
      el("p", "explain", detail),
      row(
        ...(retry ? [button("Try again", () => send(label), "button primary")] : []),
        button("Don't send", decline)));
  }
}

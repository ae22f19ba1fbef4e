// Turning model output into words and numbers a visitor reads.

/** "darth_vader" -> "Darth Vader", "not-mila" -> "Not Mila". */
export function humanLabel(label) {
  return String(label)
    .split(/[_\-\s]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join(" ");
}

/** 0.9962 -> "99.6%". A score that is not 0 or 1 never shows as "0.0%" or "100.0%". */
export function formatPercent(score) {
  const pct = Math.min(Math.max(Number(score) || 0, 0), 1) * 100;
  const text = pct.toFixed(1);
  if (pct > 0 && text === "0.0") return "<0.1%";
  if (pct < 100 && text === "100.0") return ">99.9%";
  return `${text}%`;
}

/** 183456 -> "179 KB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The page's question: the model's own title, else "A or B?" or "What is it: A, B or C?". */
export function pageTitle(model) {
  const own = typeof model.title === "string" ? model.title.trim() : "";
  if (own) return own;
  const names = (model.labels || []).map(humanLabel);
  if (names.length === 2) return `${names[0]} or ${names[1]}?`;
  if (names.length > 2) return `What is it: ${names.slice(0, -1).join(", ")} or ${names.at(-1)}?`;
  return "isit?";
}

/**
 * A "not sure" answer in words: how unlike the training photos, in the API's `unlike`
 * words ("a little", "quite", "very"), with no percentage, since for such a photo the
 * class scores mean nothing. "like other": the model's own "none of these" class won.
 */
export function notSureWords(unlike) {
  if (unlike === "like other") return "It looks like the photos it was told are none of these.";
  const how = ["a little", "quite", "very"].includes(unlike) ? unlike : "too";
  return `This photo is ${how} unlike the photos it learnt from, so any answer would be a guess.`;
}

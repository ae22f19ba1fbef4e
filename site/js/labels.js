// Turning model output into words and numbers a visitor reads.

/** "darth_vader" -> "Darth Vader", "not-mila" -> "Not Mila". */
export function humanLabel(label) {
  return String(label)
    .split(/[_\-\s]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join(" ");
}

/** 0.9962 -> "99.6%". Never rounds a non-certain score up to "100%" or down to "0%". */
export function formatPercent(score) {
  const pct = Math.min(Math.max(Number(score) || 0, 0), 1) * 100;
  if (pct > 0 && pct < 0.1) return "<0.1%";
  if (pct < 100 && pct > 99.9) return ">99.9%";
  return `${pct.toFixed(1)}%`;
}

/** 183456 -> "179 KB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

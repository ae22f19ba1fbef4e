// "Where it looked": the model's heatmap (rows x cols, 0..1, row 0 at the top of the photo as
// the model saw it) drawn over the part of the photo the model saw (its centre-square crop).

// Viridis stops: ordered in lightness and readable with any colour vision.
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function colour(v) {
  const x = Math.min(Math.max(v, 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const t = x - i;
  return STOPS[i].map((c, k) => Math.round(c + (STOPS[i + 1][k] - c) * t));
}

/** The grid when `heatmap` is usable (rectangular, finite numbers), else null. */
export function heatGrid(heatmap) {
  const grid = heatmap?.grid;
  if (!Array.isArray(grid) || !grid.length || !Array.isArray(grid[0])) return null;
  const cols = grid[0].length;
  const ok = cols > 0 && grid.every((row) => Array.isArray(row) && row.length === cols
    && row.every((v) => Number.isFinite(v)));
  return ok ? grid : null;
}

/**
 * Paint the grid into `canvas` (one pixel per cell: the browser's smoothing blends the cells
 * when it is stretched) and place it over the crop, in % of the photo the page uploaded.
 */
export function drawHeat(canvas, grid, crop, width, height) {
  const rows = grid.length;
  const cols = grid[0].length;
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const pixels = ctx.createImageData(cols, rows);
  grid.flat().forEach((v, i) => {
    pixels.data.set([...colour(v), Math.round(255 * (0.2 + 0.5 * Math.min(Math.max(v, 0), 1)))],
      4 * i);
  });
  ctx.putImageData(pixels, 0, 0);
  const side = Math.min(width, height); // the model's own centre square when no crop came
  const box = crop && crop.width > 0 && crop.height > 0 ? crop
    : { x: (width - side) / 2, y: (height - side) / 2, width: side, height: side };
  Object.assign(canvas.style, {
    left: `${(100 * box.x) / width}%`,
    top: `${(100 * box.y) / height}%`,
    width: `${(100 * box.width) / width}%`,
    height: `${(100 * box.height) / height}%`,
  });
}

// Which third (0, 1, 2) holds most of `mass` (per row or column); each cell's mass is shared
// by overlap, so a 7-cell axis splits fairly. Ties go to the centre.
function third(mass) {
  const n = mass.length;
  const share = [0, 0, 0];
  mass.forEach((m, i) => {
    for (let t = 0; t < 3; t += 1) {
      const overlap = Math.min((i + 1) / n, (t + 1) / 3) - Math.max(i / n, t / 3);
      if (overlap > 0) share[t] += m * overlap * n;
    }
  });
  const best = Math.max(...share);
  return share[1] >= best * (1 - 1e-6) ? 1 : share.indexOf(best);
}

/** "It looked mostly at the centre-left.": for screen readers and everyone else. */
export function describeHeat(grid) {
  const rows = grid.map((row) => row.reduce((a, v) => a + Math.max(v, 0), 0));
  const cols = grid[0].map((_, c) => grid.reduce((a, row) => a + Math.max(row[c], 0), 0));
  if (!(rows.reduce((a, v) => a + v, 0) > 0)) return "It looked evenly across the photo.";
  const v = ["top", "centre", "bottom"][third(rows)];
  const h = ["left", "centre", "right"][third(cols)];
  let where = `${v}-${h}`;
  if (h === "centre") where = v;
  else if (v === "centre") where = `centre-${h}`;
  return `It looked mostly at the ${where}.`;
}

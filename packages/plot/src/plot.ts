/**
 * A small SVG plotting module: line charts with titled axes, "nice" ticks,
 * a light grid, legends and shaded bands (e.g. percentile ranges), composed
 * into multi-panel figures. Output is a standalone SVG document (no CSS, no
 * external resources) that browsers and resvg render the same.
 *
 * @example
 *   import { figure, writePng } from '@normlab/plot';
 *   const svg = figure([{ title: 'Loss', xLabel: 'step', yLabel: 'loss', series: [{ name: 'train', x, y }] }]);
 *   writePng('loss.png', svg);
 */

export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 4'. */
  dash?: string;
  width?: number;
  /** Draw a small circle at every point. */
  markers?: boolean;
  /** Leave the series out of the legend. */
  hideInLegend?: boolean;
}

export interface Band {
  name: string;
  x: readonly number[];
  lo: readonly number[];
  hi: readonly number[];
  color?: string;
  opacity?: number;
  hideInLegend?: boolean;
}

/** 'auto' (the default): the corner that hides the fewest data points. */
export type LegendPosition = 'auto' | 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' | 'none';

export interface Chart {
  title?: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  bands?: readonly Band[];
  /** Axis ranges; by default the data's, widened to nice ticks. */
  xDomain?: readonly [number, number];
  yDomain?: readonly [number, number];
  xTickFormat?: (v: number) => string;
  yTickFormat?: (v: number) => string;
  legend?: LegendPosition;
  /** Horizontal reference lines, e.g. y = 0. */
  hLines?: readonly { y: number; color?: string; dash?: string }[];
}

export interface FigureOptions {
  /** Panels per row (default: all in one row). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
  /** A title over the whole figure. */
  title?: string;
  /** A smaller line under the title. */
  subtitle?: string;
}

/** Colors that stay distinguishable for color-blind readers (Okabe-Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

export const FONT_FAMILY = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const MARGIN = { top: 44, right: 22, bottom: 58, left: 74 };

/** Escapes text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** About `count` round tick values (1, 2, 2.5 or 5 times a power of ten) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const d = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= d;
    max += d;
  }
  const raw = (max - min) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(min / step + 1e-9) * step;
  const end = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= end + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A compact tick label: 12000 -> '12k', 0.25 -> '0.25'. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 && v % 1e5 === 0) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3 && v % 100 === 0) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

const finite = (xs: readonly number[]): number[] => xs.filter(Number.isFinite);

function extent(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

const f = (v: number): string => (Math.round(v * 100) / 100).toString();

/** FNV-1a, 32 bits, as 8 hex digits. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

const CLIP_ID = '\u0000clip\u0000';

/** One chart as an SVG group placed at (x0, y0), `width` x `height` including its margins. */
export function chartGroup(chart: Chart, x0: number, y0: number, width: number, height: number): string {
  const bands = chart.bands ?? [];
  const xs = extent(finite([...chart.series.flatMap((s) => s.x), ...bands.flatMap((b) => b.x)]));
  const ys = extent(finite([...chart.series.flatMap((s) => s.y), ...bands.flatMap((b) => [...b.lo, ...b.hi])]));
  const xTicks = niceTicks(...(chart.xDomain ?? xs), 7);
  const yTicks = niceTicks(...(chart.yDomain ?? ys), 6);
  const [xMin, xMax] = chart.xDomain ?? [xTicks[0], xTicks[xTicks.length - 1]];
  const [yMin, yMax] = chart.yDomain ?? [yTicks[0], yTicks[yTicks.length - 1]];
  const pw = width - MARGIN.left - MARGIN.right;
  const ph = height - MARGIN.top - MARGIN.bottom;
  const px = (v: number): number => MARGIN.left + ((v - xMin) / (xMax - xMin || 1)) * pw;
  const py = (v: number): number => MARGIN.top + ph - ((v - yMin) / (yMax - yMin || 1)) * ph;
  const xFmt = chart.xTickFormat ?? formatTick;
  const yFmt = chart.yTickFormat ?? formatTick;
  // The clip path's id is a hash of the chart's markup, so ids stay the same
  // from run to run and differ between charts that share one HTML page (a
  // notebook shows many SVGs inline, and ids are global to the page).
  const clip = CLIP_ID;
  const out: string[] = [];
  out.push(`<g transform="translate(${f(x0)},${f(y0)})" font-family="${FONT_FAMILY}">`);
  out.push(`<defs><clipPath id="${clip}"><rect x="${MARGIN.left}" y="${MARGIN.top}" width="${f(pw)}" height="${f(ph)}"/></clipPath></defs>`);
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${f(pw)}" height="${f(ph)}" fill="#ffffff" stroke="none"/>`);
  // grid and ticks
  for (const t of xTicks.filter((t) => t >= xMin - 1e-9 && t <= xMax + 1e-9)) {
    const x = f(px(t));
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${f(MARGIN.top + ph)}" stroke="#e6e6e6" stroke-width="1"/>`);
    out.push(`<line x1="${x}" y1="${f(MARGIN.top + ph)}" x2="${x}" y2="${f(MARGIN.top + ph + 5)}" stroke="#444" stroke-width="1"/>`);
    out.push(`<text x="${x}" y="${f(MARGIN.top + ph + 20)}" font-size="13" fill="#333" text-anchor="middle">${escapeXml(xFmt(t))}</text>`);
  }
  for (const t of yTicks.filter((t) => t >= yMin - 1e-9 && t <= yMax + 1e-9)) {
    const y = f(py(t));
    out.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${f(MARGIN.left + pw)}" y2="${y}" stroke="#e6e6e6" stroke-width="1"/>`);
    out.push(`<line x1="${MARGIN.left - 5}" y1="${y}" x2="${MARGIN.left}" y2="${y}" stroke="#444" stroke-width="1"/>`);
    out.push(`<text x="${MARGIN.left - 9}" y="${y}" dy="0.35em" font-size="13" fill="#333" text-anchor="end">${escapeXml(yFmt(t))}</text>`);
  }
  for (const h of chart.hLines ?? []) {
    if (h.y < yMin || h.y > yMax) continue;
    out.push(`<line x1="${MARGIN.left}" y1="${f(py(h.y))}" x2="${f(MARGIN.left + pw)}" y2="${f(py(h.y))}" stroke="${h.color ?? '#888'}" stroke-width="1" stroke-dasharray="${h.dash ?? '4 4'}"/>`);
  }
  // data, clipped to the plot area
  out.push(`<g clip-path="url(#${clip})">`);
  bands.forEach((b, i) => {
    const pts: string[] = [];
    for (let k = 0; k < b.x.length; k++) if (Number.isFinite(b.hi[k])) pts.push(`${f(px(b.x[k]))},${f(py(b.hi[k]))}`);
    for (let k = b.x.length - 1; k >= 0; k--) if (Number.isFinite(b.lo[k])) pts.push(`${f(px(b.x[k]))},${f(py(b.lo[k]))}`);
    if (pts.length > 0) out.push(`<polygon points="${pts.join(' ')}" fill="${b.color ?? PALETTE[i % PALETTE.length]}" fill-opacity="${b.opacity ?? 0.2}" stroke="none"/>`);
  });
  chart.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    // A NaN breaks the line into segments.
    const segments: string[][] = [[]];
    for (let k = 0; k < s.x.length; k++) {
      if (Number.isFinite(s.x[k]) && Number.isFinite(s.y[k])) segments[segments.length - 1].push(`${f(px(s.x[k]))},${f(py(s.y[k]))}`);
      else if (segments[segments.length - 1].length > 0) segments.push([]);
    }
    for (const seg of segments.filter((g) => g.length > 0)) {
      out.push(`<polyline points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="${s.width ?? 2.2}" stroke-linejoin="round" stroke-linecap="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    }
    if (s.markers) {
      for (let k = 0; k < s.x.length; k++) {
        if (Number.isFinite(s.y[k])) out.push(`<circle cx="${f(px(s.x[k]))}" cy="${f(py(s.y[k]))}" r="2.6" fill="${color}"/>`);
      }
    }
  });
  out.push('</g>');
  // frame, labels, title
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${f(pw)}" height="${f(ph)}" fill="none" stroke="#444" stroke-width="1"/>`);
  out.push(`<text x="${f(MARGIN.left + pw / 2)}" y="${f(height - 14)}" font-size="14" fill="#222" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  const ly = MARGIN.top + ph / 2;
  out.push(`<text x="18" y="${f(ly)}" font-size="14" fill="#222" text-anchor="middle" transform="rotate(-90 18 ${f(ly)})">${escapeXml(chart.yLabel)}</text>`);
  if (chart.title) out.push(`<text x="${f(MARGIN.left + pw / 2)}" y="27" font-size="16" font-weight="bold" fill="#111" text-anchor="middle">${escapeXml(chart.title)}</text>`);
  // Pixel positions of the data (polylines sampled between points), for placing the legend.
  const occupied: [number, number][] = [];
  const sample = (xs: readonly number[], ys: readonly number[]): void => {
    for (let k = 0; k < xs.length; k++) {
      if (!Number.isFinite(ys[k])) continue;
      occupied.push([px(xs[k]), py(ys[k])]);
      if (k + 1 < xs.length && Number.isFinite(ys[k + 1])) {
        for (let t = 1; t < 8; t++) occupied.push([px(xs[k] + ((xs[k + 1] - xs[k]) * t) / 8), py(ys[k] + ((ys[k + 1] - ys[k]) * t) / 8)]);
      }
    }
  };
  for (const s of chart.series) sample(s.x, s.y);
  for (const b of bands) {
    sample(b.x, b.lo);
    sample(b.x, b.hi);
  }
  out.push(legend(chart, pw, ph, occupied));
  out.push('</g>');
  const markup = out.join('\n');
  return markup.replaceAll(CLIP_ID, `clip-${hash(markup)}`);
}

function legend(chart: Chart, pw: number, ph: number, occupied: readonly [number, number][]): string {
  let position = chart.legend ?? 'auto';
  const entries = [
    ...chart.series.map((s, i) => ({ kind: 'line' as const, name: s.name, color: s.color ?? PALETTE[i % PALETTE.length], dash: s.dash, hide: s.hideInLegend })),
    ...(chart.bands ?? []).map((b, i) => ({ kind: 'band' as const, name: b.name, color: b.color ?? PALETTE[i % PALETTE.length], opacity: b.opacity ?? 0.2, hide: b.hideInLegend })),
  ].filter((e) => !e.hide);
  if (position === 'none' || entries.length === 0) return '';
  const rowH = 20;
  // DejaVu Sans at 13px averages ~7.6px per character.
  const w = 44 + Math.max(...entries.map((e) => e.name.length)) * 7.6;
  const h = entries.length * rowH + 10;
  const place = (pos: string): [number, number] => [
    pos.endsWith('left') ? MARGIN.left + 10 : MARGIN.left + pw - w - 10,
    pos.startsWith('top') ? MARGIN.top + 10 : MARGIN.top + ph - h - 10,
  ];
  if (position === 'auto') {
    const corners = ['bottom-right', 'top-right', 'top-left', 'bottom-left'] as const;
    const hidden = corners.map((c) => {
      const [l, t] = place(c);
      return occupied.filter(([x, y]) => x >= l - 4 && x <= l + w + 4 && y >= t - 4 && y <= t + h + 4).length;
    });
    position = corners[hidden.indexOf(Math.min(...hidden))];
  }
  const [left, top] = place(position);
  const out = [`<g transform="translate(${f(left)},${f(top)})">`, `<rect width="${f(w)}" height="${h}" rx="4" fill="#ffffff" fill-opacity="0.9" stroke="#bbbbbb"/>`];
  entries.forEach((e, i) => {
    const y = 5 + i * rowH + rowH / 2;
    if (e.kind === 'line') {
      out.push(`<line x1="8" y1="${y}" x2="32" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}/>`);
    } else {
      out.push(`<rect x="8" y="${y - 6}" width="24" height="12" fill="${e.color}" fill-opacity="${e.opacity}"/>`);
    }
    out.push(`<text x="38" y="${y}" dy="0.35em" font-size="13" fill="#222">${escapeXml(e.name)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Panels laid out in a grid as one standalone SVG document on a white background. */
export function figure(panels: readonly Chart[], options: FigureOptions = {}): string {
  const columns = Math.max(1, Math.min(options.columns ?? panels.length, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const pw = options.panelWidth ?? 560;
  const ph = options.panelHeight ?? 400;
  const head = options.title ? (options.subtitle ? 58 : 40) : 0;
  const width = columns * pw;
  const height = head + rows * ph;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title) out.push(`<text x="${width / 2}" y="28" font-family="${FONT_FAMILY}" font-size="19" font-weight="bold" fill="#111" text-anchor="middle">${escapeXml(options.title)}</text>`);
  if (options.subtitle) out.push(`<text x="${width / 2}" y="50" font-family="${FONT_FAMILY}" font-size="13" fill="#555" text-anchor="middle">${escapeXml(options.subtitle)}</text>`);
  panels.forEach((p, i) => out.push(chartGroup(p, (i % columns) * pw, head + Math.floor(i / columns) * ph, pw, ph)));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A single chart as a standalone SVG document. */
export function lineChart(chart: Chart, width = 640, height = 440): string {
  return figure([chart], { panelWidth: width, panelHeight: height });
}

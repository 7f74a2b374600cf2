import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Chart, JUPYTER_DISPLAY, PALETTE, bundledFonts, describeSvg, escapeXml, figure, formatTick, inline, lineChart, mimeBundle, niceTicks,
  svgSize, svgToPng, writePng,
} from '../src/index.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const tmp = mkdtempSync(join(tmpdir(), 'plot-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The translate() of the legend group of a one-chart figure (the group right after the title). */
function legendOrigin(svg: string): [number, number] {
  const m = /<g transform="translate\(([\d.]+),([\d.]+)\)">\n<rect width="[\d.]+" height="\d+" rx="4"/.exec(svg);
  if (!m) throw new Error('no legend');
  return [Number(m[1]), Number(m[2])];
}

const line = (n: number, fn: (x: number) => number): { x: number[]; y: number[] } => {
  const x = Array.from({ length: n }, (_, i) => i / (n - 1));
  return { x, y: x.map(fn) };
};

describe('niceTicks', () => {
  it('makes round ticks covering the range', () => {
    expect(niceTicks(0, 10_000, 6)).toEqual([0, 2000, 4000, 6000, 8000, 10_000]);
    expect(niceTicks(0.71, 0.99, 6)).toEqual([0.7, 0.8, 0.9, 1]);
    expect(niceTicks(-2.4, 2.1, 6)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(niceTicks(1e-4, 3e-4, 3)).toEqual([0.0001, 0.0002, 0.0003]);
  });

  it('handles a single value and non-finite bounds', () => {
    expect(niceTicks(5, 5, 6)).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
    expect(niceTicks(0, 0, 3)).toEqual([-1, 0, 1]);
    expect(niceTicks(NaN, 1)).toEqual([0, 1]);
    expect(niceTicks(0, Infinity)).toEqual([0, 1]);
  });

  it('always covers [min, max] with steps of 1, 2, 2.5 or 5 times a power of ten', () => {
    for (const [lo, hi] of [[-7.3, 91.2], [0.0012, 0.0049], [3, 1e6], [-1e-3, 1e-3], [12.5, 13]] as const) {
      const t = niceTicks(lo, hi, 6);
      expect(t[0]).toBeLessThanOrEqual(lo);
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(hi);
      const step = (t[t.length - 1] - t[0]) / (t.length - 1);
      const mantissa = step / 10 ** Math.floor(Math.log10(step));
      expect([1, 2, 2.5, 5].some((m) => Math.abs(m - mantissa) < 1e-6)).toBe(true);
      expect(t.length).toBeLessThanOrEqual(12);
    }
  });
});

describe('formatTick and escapeXml', () => {
  it('writes compact tick labels', () => {
    expect(formatTick(0)).toBe('0');
    expect(formatTick(12_000)).toBe('12k');
    expect(formatTick(2_500_000)).toBe('2.5M');
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(1 / 3)).toBe('0.3333');
    expect(formatTick(-1500)).toBe('-1.5k');
  });

  it('escapes markup', () => {
    expect(escapeXml(`a <b> & "c" 'd'`)).toBe('a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;');
  });
});

describe('figure', () => {
  it('makes SVG that resvg parses, with escaped text, NaN gaps and bands', () => {
    const svg = figure([{ title: 'a <b> & c', xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [0, 1, 2], y: [1, NaN, 3] }], bands: [{ name: 'b', x: [0, 2], lo: [0, 1], hi: [2, 3] }] }]);
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    // A NaN splits the line: two one-point polylines, no point at NaN.
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).not.toContain('NaN');
    expect(svg).toContain('<polygon ');
    expect(svgSize(svg)).toEqual({ width: 560, height: 400 });
  });

  it('lays panels out in a grid under the title', () => {
    const chart: Chart = { xLabel: 'x', yLabel: 'y', series: [{ name: 's', ...line(5, (x) => x) }] };
    const svg = figure([chart, chart, chart], { columns: 2, panelWidth: 300, panelHeight: 200, title: 'T', subtitle: 'sub' });
    expect(svgSize(svg)).toEqual({ width: 600, height: 58 + 400 });
    expect(svg).toContain('<g transform="translate(300,58)"');
    expect(svg).toContain('<g transform="translate(0,258)"');
  });

  it('uses the palette in order, and given domains, tick formats and reference lines', () => {
    const svg = lineChart({
      xLabel: 'x', yLabel: 'y',
      series: [{ name: 'a', ...line(3, (x) => x) }, { name: 'b', ...line(3, (x) => 1 - x), dash: '6 4' }],
      yDomain: [-1, 2], yTickFormat: (v) => `${v}%`, hLines: [{ y: 0 }],
    });
    expect(svg).toContain(`stroke="${PALETTE[0]}"`);
    expect(svg).toContain(`stroke="${PALETTE[1]}"`);
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('>-1%</text>');
    expect(svg).toContain('>2%</text>');
    expect(svg).toContain('stroke-dasharray="4 4"');
  });

  it('gives every chart its own clip path id, the same from run to run', () => {
    const a: Chart = { xLabel: 'x', yLabel: 'y', series: [{ name: 's', ...line(4, (x) => x * x) }] };
    const b: Chart = { ...a, title: 'other' };
    const ids = (svg: string): string[] => [...svg.matchAll(/clipPath id="([^"]+)"/g)].map((m) => m[1]);
    const [ia, ib] = ids(figure([a, b]));
    expect(ia).not.toBe(ib);
    expect(ids(figure([a]))[0]).toBe(ia);
    expect(figure([a, b])).toBe(figure([a, b]));
  });
});

describe('legend placement', () => {
  const W = 640;
  const H = 440;
  // The plot area: x in [74, 618], y in [44, 382] (margins 74 / 22 / 44 / 58).
  const place = (fn: (x: number) => number, legend?: Chart['legend']): [number, number] =>
    legendOrigin(lineChart({ xLabel: 'x', yLabel: 'y', legend, series: [{ name: 'rising line', ...line(50, fn) }, { name: 'flat', x: [0, 1], y: [0.5, 0.5], hideInLegend: true }] }, W, H));

  it("'auto' avoids the corners the data runs through", () => {
    // y = x runs through bottom-left and top-right: bottom-right is free.
    const [x1, y1] = place((x) => x);
    expect(x1).toBeGreaterThan(W / 2);
    expect(y1).toBeGreaterThan(H / 2);
    // y = 1 - x: bottom-left and top-right are free; bottom-right is taken, so the next free corner (top-right).
    const [x2, y2] = place((x) => 1 - x);
    expect(x2).toBeGreaterThan(W / 2);
    expect(y2).toBeLessThan(H / 2);
    // A curve hugging the bottom and the right: top-left.
    const [x3, y3] = place((x) => (x < 0.9 ? 0 : 10 * (x - 0.9)));
    expect(x3).toBeLessThan(W / 2);
    expect(y3).toBeLessThan(H / 2);
  });

  it('honours a fixed position and leaves the legend out with none, or with no entries', () => {
    const [x, y] = place((x) => x, 'top-left');
    expect([x, y]).toEqual([84, 54]);
    expect(() => place((x) => x, 'none')).toThrow('no legend');
    const svg = lineChart({ xLabel: 'x', yLabel: 'y', series: [{ name: 'hidden', x: [0, 1], y: [0, 1], hideInLegend: true }] });
    expect(() => legendOrigin(svg)).toThrow('no legend');
  });

  it('lists series as lines and bands as swatches, hidden entries left out', () => {
    const svg = lineChart({
      xLabel: 'x', yLabel: 'y',
      series: [{ name: 'median', x: [0, 1], y: [0, 1] }, { name: 'p15', x: [0, 1], y: [0, 0.5], hideInLegend: true }],
      bands: [{ name: '15-85%', x: [0, 1], lo: [0, 0], hi: [1, 1] }],
    });
    const legend = svg.slice(svg.indexOf('rx="4"'));
    expect(legend).toContain('>median</text>');
    expect(legend).toContain('>15-85%</text>');
    expect(legend).not.toContain('>p15</text>');
    expect(legend).toMatch(/<rect x="8" y="\d+" width="24" height="12"/);
  });
});

describe('PNG rendering', () => {
  const svg = lineChart({ title: 'PNG', xLabel: 'x', yLabel: 'y', series: [{ name: 's', ...line(20, Math.sin) }] }, 320, 240);

  it('renders PNG bytes at the given scale', () => {
    const png = svgToPng(svg, 2);
    expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    // IHDR: width and height, big-endian, at bytes 16..23.
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    expect([view.getUint32(16), view.getUint32(20)]).toEqual([640, 480]);
    const path = join(tmp, 'a.png');
    writePng(path, svg, 1);
    const file = readFileSync(path);
    expect([...file.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    expect(file.readUInt32BE(16)).toBe(320);
  });

  it('finds the bundled DejaVu fonts', () => {
    const fonts = bundledFonts();
    expect(fonts.map((f) => f.split(/[\\/]/).pop())).toEqual(['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']);
    for (const f of fonts) expect(readFileSync(f).subarray(0, 4).readUInt32BE(0)).toBe(0x00010000);
  });

  it('rejects what is not SVG', () => {
    expect(() => svgSize('<html></html>')).toThrow();
    expect(() => svgToPng('not svg at all')).toThrow();
  });
});

describe('inline display in Jupyter', () => {
  const svg = lineChart({ xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [0, 1], y: [0, 1] }] }, 200, 150);

  it('exposes the MIME bundle under Symbol.for("Jupyter.display")', () => {
    expect(JUPYTER_DISPLAY).toBe(Symbol.for('Jupyter.display'));
    const d = inline(svg);
    expect(d.svg).toBe(svg);
    expect(String(d)).toBe(svg);
    expect(d[JUPYTER_DISPLAY]()).toEqual({ 'image/svg+xml': svg, 'text/plain': 'SVG figure, 200 x 150 px' });
    expect(describeSvg('<svg xmlns="http://www.w3.org/2000/svg"/>')).toBe('SVG figure');
  });

  it('renders PNG as base64 on request', () => {
    const png = mimeBundle(svg, { format: 'png' });
    expect(Object.keys(png).sort()).toEqual(['image/png', 'text/plain']);
    const bytes = Buffer.from(png['image/png'], 'base64');
    expect([...bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    expect(bytes.readUInt32BE(16)).toBe(200);
    const both = inline(svg, { format: 'both', scale: 2 })[JUPYTER_DISPLAY]();
    expect(Object.keys(both).sort()).toEqual(['image/png', 'image/svg+xml', 'text/plain']);
    expect(Buffer.from(both['image/png'], 'base64').readUInt32BE(16)).toBe(400);
  });
});

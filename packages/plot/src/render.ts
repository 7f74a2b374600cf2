/**
 * SVG -> PNG with resvg (@resvg/resvg-js). Text uses the DejaVu Sans files
 * shipped by the dejavu-fonts-ttf package, so figures render the same on a
 * machine without system fonts; system fonts are loaded as well.
 *
 * resvg is a native (Node-API) module; it is loaded on the first render, so
 * importing this package for SVG output alone loads no native code.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type ResvgModule = typeof import('@resvg/resvg-js');

const require = createRequire(import.meta.url);

let resvgModule: ResvgModule | undefined;
function resvg(): ResvgModule {
  resvgModule ??= require('@resvg/resvg-js') as ResvgModule;
  return resvgModule;
}

let fonts: string[] | undefined;
/** The DejaVu Sans files of the dejavu-fonts-ttf package (empty when it is not installed). */
export function bundledFonts(): string[] {
  if (fonts) return fonts;
  try {
    const dir = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    fonts = [join(dir, 'DejaVuSans.ttf'), join(dir, 'DejaVuSans-Bold.ttf')];
  } catch {
    fonts = [];
  }
  return fonts;
}

/** Renders `svg` to PNG bytes at `scale` times its size (2: sharp on high-DPI screens). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const { Resvg } = resvg();
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: { fontFiles: bundledFonts(), loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

/** Renders `svg` with resvg at `scale` (2 by default) and writes the PNG to `path`. */
export function writePng(path: string, svg: string, scale = 2): void {
  writeFileSync(path, svgToPng(svg, scale));
}

/** The size in pixels of an SVG document as resvg parses it; throws on an SVG that resvg cannot parse. */
export function svgSize(svg: string): { width: number; height: number } {
  const { Resvg } = resvg();
  const r = new Resvg(svg);
  return { width: r.width, height: r.height };
}

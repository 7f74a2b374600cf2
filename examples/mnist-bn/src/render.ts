/**
 * SVG -> PNG with resvg (@resvg/resvg-js). Text uses the DejaVu Sans files
 * shipped by the dejavu-fonts-ttf package, so figures render the same on a
 * machine without system fonts; system fonts are loaded as well.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';

const require = createRequire(import.meta.url);

function bundledFonts(): string[] {
  try {
    const dir = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    return [join(dir, 'DejaVuSans.ttf'), join(dir, 'DejaVuSans-Bold.ttf')];
  } catch {
    return [];
  }
}

/** Renders `svg` to PNG bytes at `scale` times its size (2: sharp on high-DPI screens). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: { fontFiles: bundledFonts(), loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

export function writePng(path: string, svg: string, scale = 2): void {
  writeFileSync(path, svgToPng(svg, scale));
}

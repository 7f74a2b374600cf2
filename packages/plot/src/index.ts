/**
 * @normlab/plot: line charts with titled axes, nice ticks, legends and shaded
 * bands as standalone SVG documents; PNG rendering with resvg; inline display
 * in Jupyter kernels.
 */
export {
  type Series, type Band, type LegendPosition, type Chart, type FigureOptions,
  PALETTE, FONT_FAMILY, escapeXml, niceTicks, formatTick, chartGroup, figure, lineChart,
} from './plot.js';
export { svgToPng, writePng, svgSize, bundledFonts } from './render.js';
export { JUPYTER_DISPLAY, inline, mimeBundle, describeSvg, type MimeBundle, type Displayable, type InlineOptions } from './jupyter.js';

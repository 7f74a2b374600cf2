/**
 * Inline display in Jupyter kernels. A kernel that follows the
 * `Symbol.for('Jupyter.display')` convention (Deno's `deno jupyter`; see
 * docs/notebooks.md) renders a cell's last value that has such a method as
 * the MIME bundle it returns:
 *
 * @example
 *   import { figure, inline } from '@normlab/plot';
 *   inline(figure([chart]));                 // the cell's last expression: the chart, inline
 *   Deno.jupyter.display(inline(svg, { format: 'png' }));   // anywhere in a cell
 */
import { Buffer } from 'node:buffer';
import { svgToPng } from './render.js';

/** The symbol a Jupyter kernel looks up on a value to display it (Deno.jupyter.$display). */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display');

/** MIME type -> content: 'image/svg+xml' holds the SVG text, 'image/png' base64, 'text/plain' a one-line description. */
export type MimeBundle = Record<string, string>;

/** What `inline` returns: an object that a Jupyter kernel (Deno's) displays through its `Symbol.for('Jupyter.display')` method. */
export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** Options of `inline`. */
export interface InlineOptions {
  /** 'svg' (the default): the SVG text; 'png': a PNG rendered by resvg; 'both': both, the front end picks. */
  format?: 'svg' | 'png' | 'both';
  /** PNG scale (default 1: the SVG's own size in pixels). */
  scale?: number;
}

/** 'SVG figure, 560 x 400 px': the text a front end without images shows. */
export function describeSvg(svg: string): string {
  const head = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const attr = (name: string): string | undefined => new RegExp(`\\s${name}="([^"]*)"`).exec(head)?.[1];
  const w = attr('width');
  const h = attr('height');
  return w && h ? `SVG figure, ${w} x ${h} px` : 'SVG figure';
}

/**
 * The MIME bundle of an SVG document, for a kernel's raw display
 * (Deno.jupyter.display(bundle, { raw: true })). It always holds 'text/plain'
 * as well: front ends fall back on it, and Deno's kernel drops a cell result
 * that has no 'text/plain'.
 */
export function mimeBundle(svg: string, options: InlineOptions = {}): MimeBundle {
  const format = options.format ?? 'svg';
  const bundle: MimeBundle = { 'text/plain': describeSvg(svg) };
  if (format === 'svg' || format === 'both') bundle['image/svg+xml'] = svg;
  if (format === 'png' || format === 'both') bundle['image/png'] = Buffer.from(svgToPng(svg, options.scale ?? 1)).toString('base64');
  return bundle;
}

/** Wraps an SVG document so that a Jupyter kernel displays it inline; `text/plain` for everything else. */
export function inline(svg: string, options: InlineOptions = {}): Displayable & { readonly svg: string } {
  return {
    svg,
    [JUPYTER_DISPLAY]: () => mimeBundle(svg, options),
    toString: () => svg,
  } as Displayable & { readonly svg: string };
}

import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../../results/store';

/**
 * Every figure of the suite is a Vega-Lite specification with its data inline. `writeFigure` writes it
 * beside the image as `<figure>.vl.json` (open it in the Vega editor, or restyle it and render it
 * again) and renders it headless: Vega to SVG, resvg to PNG.
 */
export type FigureSpec = TopLevelSpec;

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** DejaVu Sans is what Debian's fonts-dejavu-core installs, and what resvg is told to use. */
const FONT = 'DejaVu Sans';

/** Okabe-Ito: distinct for readers with colour-vision deficiencies; black first, for the data. */
export const CATEGORY_COLORS = ['#000000', '#E69F00', '#0072B2', '#D55E00', '#009E73', '#CC79A7', '#56B4E9', '#F0E442'];
/** The colours of runs in a figure without a reference series: black stays the data's, so a method keeps its colour across figures. */
export const RUN_COLORS = CATEGORY_COLORS.slice(1);

/** The look shared by every figure: readable type, the palette above, tooltips in the HTML report. */
const THEME = {
  font: FONT,
  background: 'white',
  padding: 8,
  title: { fontSize: 15, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', grid: true, gridOpacity: 0.5 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  legend: { labelFontSize: 12, titleFontSize: 13, labelLimit: 320 },
  range: { category: CATEGORY_COLORS },
  mark: { tooltip: true },
  view: { stroke: '#888' },
} as const;

/** The file holding a figure's specification: `samples.png` -> `samples.vl.json`. */
export function specFileOf(imageFile: string): string {
  const parsed = path.parse(imageFile);
  return path.join(parsed.dir, `${parsed.name}.vl.json`);
}

/** The specification with the suite's look and the schema filled in (a figure's own `config` entries win, key by key). */
export function withTheme(spec: FigureSpec): FigureSpec {
  const config: Record<string, unknown> = { ...THEME };
  for (const [key, value] of Object.entries((spec as { config?: Record<string, unknown> }).config ?? {})) {
    const base = config[key];
    config[key] = isRecord(base) && isRecord(value) ? { ...base, ...value } : value;
  }
  return { $schema: VEGA_LITE_SCHEMA, ...spec, config } as FigureSpec;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A warning about the compiler's own dataflow optimiser giving up early: the output is still correct, only less optimised. */
const HARMLESS_WARNING = /^Maximum optimization runs/;

/** Compiles a Vega-Lite specification; its warnings (a mistyped field, an ignored channel) are errors here. */
function compileStrict(spec: FigureSpec): vega.Spec {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => { throw new Error(`vega-lite: ${args.join(' ')}`); },
    warn: (...args: unknown[]) => {
      const message = args.join(' ');
      if (!HARMLESS_WARNING.test(message)) warnings.push(message);
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  const compiled = compile(spec, { logger: logger as never }).spec;
  if (warnings.length) throw new Error(`vega-lite: ${warnings.join('; ')}`);
  return compiled;
}

/** The figure as SVG text, rendered by Vega without a browser. */
export async function renderSvg(spec: FigureSpec): Promise<string> {
  return renderThemed(withTheme(spec));
}

/** A themed specification as SVG (rendered from a copy: Vega tags the data rows it reads). */
async function renderThemed(themed: FigureSpec): Promise<string> {
  const view = new vega.View(vega.parse(compileStrict(structuredClone(themed))), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG rasterised at `scale` times its size (fonts from the system, DejaVu Sans for every family). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT, serifFamily: FONT, monospaceFamily: FONT },
  });
  return resvg.render().asPng();
}

/**
 * Writes `imageFile` (a PNG) and its specification beside it. Both are written to a temporary name
 * and renamed, so a reader never sees half a figure.
 */
export async function writeFigure(imageFile: string, spec: FigureSpec): Promise<void> {
  const themed = withTheme(spec);
  const svg = await renderThemed(themed);
  writeFileAtomic(specFileOf(imageFile), JSON.stringify(themed, null, 1) + '\n');
  writeFileAtomic(imageFile, svgToPng(svg));
}

import { Resvg } from '@resvg/resvg-js'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

export interface RenderedChart {
  svg: string
  png: Uint8Array
  width: number
  height: number
}

/** Renders a Vega-Lite spec to SVG (vega, no browser) and PNG (resvg, no canvas library), at `scale` pixels per unit. */
export async function renderVegaLite(spec: TopLevelSpec, scale = 2): Promise<RenderedChart> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    const svg = await view.toSVG()
    const img = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true }, background: 'white' }).render()
    return { svg, png: img.asPng(), width: img.width, height: img.height }
  } finally {
    view.finalize()
  }
}

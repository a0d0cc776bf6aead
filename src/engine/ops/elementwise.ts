import type { Graph, OpDef, Sym } from '../graph.js'
import { broadcastShape, maskToFloat, raw1, raw2, unbroadcast } from './util.js'

/** Elementwise binary ops with NumPy broadcasting; each gradient is summed back to its input's shape. */
function binary(name: string, onnx: string, grad: (g: Graph, a: Sym, b: Sym, y: Sym, dy: Sym) => [Sym | null, Sym | null]): OpDef {
  return {
    name,
    forward: (g, [a, b]) => [g.node1(onnx, [a!, b!], broadcastShape(a!.shape, b!.shape), a!.dtype)],
    backward: (g, [a, b], [y], [dy]) => {
      const [da, db] = grad(g, a!, b!, y!, dy!)
      return [da && unbroadcast(g, da, a!.shape), db && unbroadcast(g, db, b!.shape)]
    },
  }
}

export const Add = binary('add', 'Add', (_g, _a, _b, _y, dy) => [dy, dy])
export const Sub = binary('sub', 'Sub', (g, _a, _b, _y, dy) => [dy, raw1(g, 'Neg', dy)])
export const Mul = binary('mul', 'Mul', (g, a, b, _y, dy) => [raw2(g, 'Mul', dy, b), raw2(g, 'Mul', dy, a)])
export const Div = binary('div', 'Div', (g, _a, b, y, dy) => {
  const da = raw2(g, 'Div', dy, b)
  return [da, raw1(g, 'Neg', raw2(g, 'Mul', da, y))]
})
/** Elementwise minimum; ties send the gradient to the first input. */
export const Minimum = binary('minimum', 'Min', (g, a, b, _y, dy) => {
  const first = maskToFloat(g, g.node1('LessOrEqual', [a, b], broadcastShape(a.shape, b.shape), 'bool'))
  return [raw2(g, 'Mul', dy, first), raw2(g, 'Sub', dy, raw2(g, 'Mul', dy, first))]
})
/** Elementwise maximum; ties send the gradient to the first input. */
export const Maximum = binary('maximum', 'Max', (g, a, b, _y, dy) => {
  const first = maskToFloat(g, g.node1('GreaterOrEqual', [a, b], broadcastShape(a.shape, b.shape), 'bool'))
  return [raw2(g, 'Mul', dy, first), raw2(g, 'Sub', dy, raw2(g, 'Mul', dy, first))]
})

function unary(name: string, onnx: string, grad: (g: Graph, x: Sym, y: Sym, dy: Sym) => Sym): OpDef {
  return {
    name,
    forward: (g, [x]) => [raw1(g, onnx, x!)],
    backward: (g, [x], [y], [dy]) => [grad(g, x!, y!, dy!)],
  }
}

export const Neg = unary('neg', 'Neg', (g, _x, _y, dy) => raw1(g, 'Neg', dy))
export const Exp = unary('exp', 'Exp', (g, _x, y, dy) => raw2(g, 'Mul', dy, y))
export const Log = unary('log', 'Log', (g, x, _y, dy) => raw2(g, 'Div', dy, x))
export const Sqrt = unary('sqrt', 'Sqrt', (g, _x, y, dy) => raw2(g, 'Div', raw2(g, 'Mul', dy, g.scalar(0.5)), y))
export const Reciprocal = unary('reciprocal', 'Reciprocal', (g, _x, y, dy) => raw1(g, 'Neg', raw2(g, 'Mul', dy, raw2(g, 'Mul', y, y))))
export const Sigmoid = unary('sigmoid', 'Sigmoid', (g, _x, y, dy) => raw2(g, 'Mul', dy, raw2(g, 'Mul', y, raw2(g, 'Sub', g.scalar(1), y))))
export const Tanh = unary('tanh', 'Tanh', (g, _x, y, dy) => raw2(g, 'Mul', dy, raw2(g, 'Sub', g.scalar(1), raw2(g, 'Mul', y, y))))
/** 1/sqrt(x), one op so its gradient -y³/2 is one expression. */
export const Rsqrt: OpDef = {
  name: 'rsqrt',
  forward: (g, [x]) => [raw1(g, 'Reciprocal', raw1(g, 'Sqrt', x!))],
  backward: (g, _x, [y], [dy]) => [raw2(g, 'Mul', raw2(g, 'Mul', dy!, g.scalar(-0.5)), raw2(g, 'Mul', y!, raw2(g, 'Mul', y!, y!)))],
}
/** SiLU (x·σ(x)), fused: dσ terms reuse the forward sigmoid. */
export const Silu: OpDef = {
  name: 'silu',
  forward: (g, [x]) => {
    const s = raw1(g, 'Sigmoid', x!)
    return [raw2(g, 'Mul', x!, s), s]
  },
  backward: (g, _x, [y, s], [dy]) => {
    // d/dx x·σ(x) = σ + x·σ·(1 − σ) = σ + y·(1 − σ) with y = x·σ from the forward: four passes over the
    // activation (an MLP's widest tensor) instead of five.
    return [raw2(g, 'Mul', dy!, raw2(g, 'Add', s!, raw2(g, 'Mul', y!, raw2(g, 'Sub', g.scalar(1), s!))))]
  },
}
/** x^p for a constant p. */
export const PowScalar: OpDef = {
  name: 'pow_scalar',
  forward: (g, [x], { p }) => [g.node1('Pow', [x!, g.scalar(p as number)], x!.shape, x!.dtype)],
  backward: (g, [x], _y, [dy], { p }) => {
    const e = p as number
    if (e === 1) return [dy!]
    // onnxruntime's Pow calls std::pow for any exponent but 2 and 3: x¹ (RMSNorm's x²) as a Pow cost 2.6 ms per
    // million elements, a plain product a tenth of that.
    const xe1 = e === 2 ? x! : g.node1('Pow', [x!, g.scalar(e - 1)], x!.shape, x!.dtype)
    return [raw2(g, 'Mul', raw2(g, 'Mul', dy!, xe1), g.scalar(e))]
  },
}
/** clamp(x, lo, hi); the gradient passes where lo ≤ x ≤ hi. */
export const Clamp: OpDef = {
  name: 'clamp',
  forward: (g, [x], { lo, hi }) => [g.node1('Clip', [x!, g.scalar(lo as number), g.scalar(hi as number)], x!.shape, x!.dtype)],
  backward: (g, [x], _y, [dy], { lo, hi }) => {
    const inLo = g.node1('GreaterOrEqual', [x!, g.scalar(lo as number)], x!.shape, 'bool')
    const inHi = g.node1('LessOrEqual', [x!, g.scalar(hi as number)], x!.shape, 'bool')
    return [raw2(g, 'Mul', dy!, maskToFloat(g, g.node1('And', [inLo, inHi], x!.shape, 'bool')))]
  },
}
/** where(cond, a, b): a where cond holds, else b; cond gets no gradient. */
export const Where: OpDef = {
  name: 'where',
  forward: (g, [c, a, b]) => [g.node1('Where', [c!, a!, b!], broadcastShape(c!.shape, broadcastShape(a!.shape, b!.shape)), a!.dtype)],
  backward: (g, [c, a, b], _y, [dy]) => {
    const zero = g.scalar(0)
    return [null, unbroadcast(g, g.node1('Where', [c!, dy!, zero], dy!.shape, dy!.dtype), a!.shape), unbroadcast(g, g.node1('Where', [c!, zero, dy!], dy!.shape, dy!.dtype), b!.shape)]
  },
}
/** Stops gradients (the value passes, its gradient does not): for old/ref log-probs and advantages. */
export const StopGradient: OpDef = {
  name: 'stop_gradient',
  forward: (g, [x]) => [raw1(g, 'Identity', x!)],
}

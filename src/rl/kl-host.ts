/** The KL estimators on plain numbers (for the per-token KL folded into PPO's reward and for metrics). */
export const KL_FUNCS: Record<string, (logp: number, refLogp: number) => number> = {
  k1: (logp, ref) => logp - ref,
  k2: (logp, ref) => 0.5 * (logp - ref) ** 2,
  k3: (logp, ref) => Math.max(-10, Math.min(10, Math.exp(ref - logp) - (ref - logp) - 1)),
}

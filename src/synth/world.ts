import { Rng } from '../util/rng.js'

/** A fictional clinical world: diseases with findings, an organ system, a mechanism and a first-line drug. */
export interface Disease {
  name: string
  findings: [string, string, string]
  organ: string
  mechanism: string
  treatment: string
}

export interface World {
  seed: number
  diseases: Disease[]
}

export const FINDINGS = [
  'fever', 'rash', 'joint pain', 'cough', 'jaundice', 'blood in the urine', 'low platelets', 'high calcium', 'night sweats', 'weight loss',
  'headache', 'blurred vision', 'chest pain', 'leg swelling', 'muscle weakness', 'abdominal pain', 'tremor', 'hair loss', 'dry skin', 'palpitations',
  'high glucose', 'low sodium', 'high potassium', 'anemia', 'protein in the urine', 'bone pain', 'confusion', 'light sensitivity', 'wheezing', 'itching',
]
const ORGANS = ['kidney', 'liver', 'lung', 'heart', 'skin', 'brain', 'blood', 'bone']
const MECHANISMS = ['autoimmune', 'infectious', 'genetic', 'toxic', 'metabolic', 'vascular']
const ONSETS = ['ka', 'vo', 'tel', 'dru', 'mor', 'zan', 'pel', 'ris', 'quo', 'bel', 'fen', 'gor', 'lum', 'nex', 'sab', 'tov']
const CODAS = ['rin', 'mar', 'sel', 'dox', 'lan', 'vet', 'mir', 'tax', 'nol', 'por']
const KINDS = ['syndrome', 'disease', 'fever', 'palsy']
const DRUG_ENDS = ['pine', 'mab', 'cillin', 'zole', 'tide', 'stat', 'vir', 'lone']

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

/**
 * Builds a seeded world. Diseases come in clusters that share findings (deliberate overlaps, so a question
 * needs the whole picture), but every disease's set of three findings is its own.
 */
export function makeWorld(seed: number, count = 24): World {
  const rng = new Rng(seed)
  const names = new Set<string>()
  const drugs = new Set<string>()
  const triples = new Set<string>()
  const diseases: Disease[] = []
  while (diseases.length < count) {
    const cluster = Math.floor(diseases.length / 4)
    // Findings: two from the cluster's pool of five, one from anywhere.
    const pool = rng.shuffle(FINDINGS.slice((cluster * 5) % FINDINGS.length, ((cluster * 5) % FINDINGS.length) + 5))
    const own = pool.slice(0, 2)
    let third = FINDINGS[rng.int(FINDINGS.length)]!
    while (own.includes(third)) third = FINDINGS[rng.int(FINDINGS.length)]!
    const findings = [own[0]!, own[1]!, third] as [string, string, string]
    const key = [...findings].sort().join('|')
    if (triples.has(key)) continue
    let name = ''
    do name = `${capitalize(ONSETS[rng.int(ONSETS.length)]! + CODAS[rng.int(CODAS.length)]!)} ${KINDS[rng.int(KINDS.length)]!}`
    while (names.has(name))
    let drug = ''
    do drug = `${ONSETS[rng.int(ONSETS.length)]!}${CODAS[rng.int(CODAS.length)]!}${DRUG_ENDS[rng.int(DRUG_ENDS.length)]!}`
    while (drugs.has(drug))
    names.add(name)
    drugs.add(drug)
    triples.add(key)
    diseases.push({ name, findings, organ: ORGANS[cluster % ORGANS.length]!, mechanism: MECHANISMS[rng.int(MECHANISMS.length)]!, treatment: drug })
  }
  return { seed, diseases }
}

/** "a, b and c": how the corpus and the questions list findings. */
export function list(xs: readonly string[]): string {
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`
}

/**
 * A textbook-like corpus: statements of the world's facts in varied wordings (findings of a disease, the
 * disease a set of findings points to, its organ, mechanism and first-line drug). No questions, no
 * reasoning chains.
 */
export function makeCorpus(w: World, seed: number, repeats = 6): string[] {
  const rng = new Rng(seed)
  const out: string[] = []
  for (let k = 0; k < repeats; k++) {
    for (const d of w.diseases) {
      const f = rng.shuffle(d.findings)
      const forms = [
        `${d.name} presents with ${list(f)}.`,
        `Typical findings of ${d.name} are ${list(f)}.`,
        `A patient with ${list(f)} most likely has ${d.name}.`,
        `${capitalize(list(f))} together suggest ${d.name}.`,
        `The first-line treatment of ${d.name} is ${d.treatment}.`,
        `${capitalize(d.treatment)} is the first-line drug for ${d.name}.`,
        `${d.name} is treated first with ${d.treatment}.`,
        `${d.name} affects the ${d.organ}.`,
        `${d.name} is a ${d.mechanism} disorder.`,
      ]
      out.push(...rng.shuffle(forms))
    }
  }
  return out
}

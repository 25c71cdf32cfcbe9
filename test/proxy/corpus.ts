// A seeded generator of socket-peer / X-Forwarded-For cases for the nginx differential test.

export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Trust lists, one nginx server block and one Fastify context each. */
export const TRUST_LISTS: string[][] = [
  ['127.0.0.1'],
  ['127.0.0.0/29', '10.0.0.0/8'],
  ['127.0.0.0/8', '192.168.0.0/16', '2001:db8::/32'],
  ['127.0.0.2', '127.0.0.3', '127.0.0.9', '172.16.0.0/12', 'fc00::/7', '::1'],
  ['127.0.0.0/30', '127.0.0.8/29', '203.0.113.0/24', '2001:db8:1::/48', '::1']
]

export const PEERS = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.5', '127.0.0.9', '127.0.0.12', '127.0.0.77', '::1']

export interface Case {
  list: number
  peer: string
  /** X-Forwarded-For header lines, in order (none: the header is absent). */
  lines: string[]
}

type Rand = () => number

function pick<T> (rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T
}

function octet (rand: Rand): number {
  return Math.floor(rand() * 256)
}

function hex (rand: Rand): string {
  return Math.floor(rand() * 65536).toString(16)
}

const GARBAGE = [
  'unknown', '_hidden', '_abc.def', 'abc', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-4', '1.2.3.4/24',
  '1.2.3.4:0', '1.2.3.4:99999', '1.2.3.4:', '1.2.3.4:http', 'fe80::1%eth0', '[::1', '::1]', '::g', '1:2:3:4:5:6:7:8:9',
  '12345::1', '[1.2.3.4]:80', '0x7f.0.0.1', '2130706433', '127.1', '"1.2.3.4"', 'for=1.2.3.4', '1.2.3.4;', '::ffff:1.2.3',
  ':::', '[::1]:', '[::1]80', '[::1]:0'
]

// Entries nginx reads one way and we another, on purpose (see the test's DIFFERENCES).
const NGINX_QUIRKS = ['01.2.3.4', '10.0.0.010', '1..2.3', '1.2.3.', '255.255.255.255', ':1::2', '[2001:db8::7]', '[::1]']

/** One X-Forwarded-For entry of a random kind. */
export function entry (rand: Rand): string {
  const kind = rand()
  if (kind < 0.2) return `${octet(rand)}.${octet(rand)}.${octet(rand)}.${octet(rand)}`
  if (kind < 0.3) return pick(rand, [`10.${octet(rand)}.${octet(rand)}`, `192.168.${octet(rand)}`, `172.20.${octet(rand)}`, '203.0.113']) + `.${octet(rand)}`
  if (kind < 0.42) return `127.0.0.${pick(rand, [1, 2, 3, 4, 5, 8, 9, 10, 12, 77])}`
  if (kind < 0.5) return `2001:db8:${rand() < 0.5 ? '1' : hex(rand)}::${hex(rand)}`
  if (kind < 0.55) return pick(rand, ['::1', 'fc00::5', 'fd12:3456::1', '2001:DB8::AB', '2001:0db8:0000:0000:0000:0000:0000:0001', '2606:4700:4700::1111', '::'])
  if (kind < 0.62) return `::ffff:${pick(rand, ['127.0.0.2', '10.1.2.3', '8.8.8.8', '192.168.7.7', '203.0.113.9'])}`
  if (kind < 0.64) return pick(rand, ['::ffff:7f00:2', '::FFFF:0A01:0203', '::ffff:c0a8:707'])
  if (kind < 0.7) return `${octet(rand)}.${octet(rand)}.0.${octet(rand)}:${1 + Math.floor(rand() * 65535)}`
  if (kind < 0.74) return `[2001:db8::${hex(rand)}]:${1 + Math.floor(rand() * 65535)}`
  if (kind < 0.76) return `10.0.0.${octet(rand)}:443`
  if (kind < 0.92) return pick(rand, GARBAGE)
  return pick(rand, NGINX_QUIRKS)
}

const SEPARATORS = [', ', ',', ', ', ' ,', ',  ', ', ', ',\t', ' , ']

export function generate (count: number, seed: number): Case[] {
  const rand = prng(seed)
  const cases: Case[] = []
  for (let i = 0; i < count; i++) {
    const lines: string[] = []
    const lineCount = rand() < 0.08 ? 0 : rand() < 0.8 ? 1 : rand() < 0.8 ? 2 : 3
    for (let l = 0; l < lineCount; l++) {
      if (rand() < 0.03) { lines.push(''); continue }
      const n = 1 + Math.floor(rand() * 4)
      let line = entry(rand)
      for (let e = 1; e < n; e++) line += pick(rand, SEPARATORS) + entry(rand)
      // A client that separates with spaces alone (nginx splits there, the list syntax does not).
      if (rand() < 0.03) line = `${entry(rand)} ${line}`
      lines.push(line)
    }
    cases.push({ list: Math.floor(rand() * TRUST_LISTS.length), peer: pick(rand, PEERS), lines })
  }
  return cases
}

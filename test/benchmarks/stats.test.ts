import t from 'tap'
import { commandsCell, costLines, formatTable, median, perCore, roundSpread, targetLines } from '../../benchmarks/stats.js'
import type { Scenario, VariantResult } from '../../benchmarks/types.js'

t.test('median of an odd and of an even count, whatever the order', async (t) => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
})

t.test('table cells for Redis cost', async (t) => {
  t.same([perCore(0), perCore(0.5), perCore(2.5), perCore(3)], ['-', '2.0M', '400k', '333k'])
  t.same([commandsCell(0.004), commandsCell(2.004)], ['0 commands', '2.00'])
})

t.test('round spread: the round-by-round ratios and how many met the target', async (t) => {
  t.equal(roundSpread([90, 100, 120], [100, 100, 100], 0.95), '; rounds 0.90x to 1.20x, met in 2 of 3')
  t.equal(roundSpread([50, 60], [100, 100], 0.55), '; rounds 0.50x to 0.60x, met in 1 of 2')
  // Nothing to pair: a row without its rounds, with none, or with a different count.
  t.same([roundSpread(undefined, [1], 1), roundSpread([1], undefined, 1), roundSpread([], [], 1), roundSpread([1, 2], [1], 1)], ['', '', '', ''])
})

const rows: VariantResult[] = [
  { name: 'bare', rounds: 2, requestsPerSec: 1000, roundsPerSec: [1000, 1000], p50: 1, p99: 2, errors: 0, non2xx: 0, redisCommandsPerRequest: 0, redisUsPerRequest: 0, redisProcessUsPerRequest: 0.1, ratio: 1 },
  { name: 'ours', rounds: 2, requestsPerSec: 900, roundsPerSec: [800, 1000], p50: 1.5, p99: 3, errors: 1, non2xx: 2, redisCommandsPerRequest: 1, redisUsPerRequest: 1.25, redisProcessUsPerRequest: 3.5, ratio: 0.9 }
]

t.test('target lines: the ratio of the medians, met or missed, then the rounds', async (t) => {
  const targets = [
    { variant: 'ours', against: 'bare', min: 0.95 },
    { variant: 'ours', against: 'bare', min: 0.8 },
    { variant: 'ours', against: 'no such row', min: 1 }
  ]
  t.same(targetLines(targets, rows), [
    'target: ours >= 0.95x bare: 0.90x MISSED; rounds 0.80x to 1.00x, met in 1 of 2',
    'target: ours >= 0.8x bare: 0.90x met; rounds 0.80x to 1.00x, met in 2 of 2'
  ])
  // Rows that keep no rounds give the ratio alone.
  t.same(targetLines([{ variant: 'a', against: 'b', min: 1 }], [{ name: 'a', requestsPerSec: 3 }, { name: 'b', requestsPerSec: 2 }]), ['target: a >= 1x b: 1.50x met'])
})

t.test('a scenario table: every row, its Redis cost, and the target lines under it', async (t) => {
  const scenario: Scenario = { name: 's', description: 'a test', baseline: 'bare', variants: [], targets: [{ variant: 'ours', against: 'bare', min: 0.95 }] }
  const header = 'variant      req/s   p50 ms   p99 ms  errors  non2xx  x bare  redis cmd/req  redis µs/req  req/s per redis core  redis proc µs/req'
  t.equal(formatTable(scenario, rows), [
    '## s: a test',
    header,
    '-'.repeat(header.length),
    'bare          1000     1.00     2.00       0       0    1.00     0 commands             -                     -                  -',
    'ours           900     1.50     3.00       1       2    0.90           1.00          1.25                  800k                3.5',
    'target: ours >= 0.95x bare: 0.90x MISSED; rounds 0.80x to 1.00x, met in 1 of 2'
  ].join('\n'))
  // A scenario that sets no target ends with its rows.
  t.equal(formatTable({ ...scenario, targets: undefined }, rows).split('\n').at(-1), 'ours           900     1.50     3.00       1       2    0.90           1.00          1.25                  800k                3.5')
})

// Driven at a fixed rate (--rate), each row also has its server's CPU per request.
const fixed: VariantResult[] = [
  { ...(rows[0] as VariantResult), serverUsPerRequest: 20, roundsServerUs: [19, 21, 20] },
  { ...(rows[1] as VariantResult), serverUsPerRequest: 22.5, roundsServerUs: [23, 20.5, 22.5] }
]

t.test('cost lines: the median of the rounds\' server CPU differences, and their spread', async (t) => {
  t.same(costLines([{ variant: 'ours', against: 'bare', min: 0.95 }, { variant: 'bare', against: 'ours', min: 1 }, { variant: 'ours', against: 'no such row', min: 1 }], fixed), [
    'server cost: ours against bare: +2.5 µs a request; rounds -0.5 to +4.0',
    'server cost: bare against ours: -2.5 µs a request; rounds -4.0 to +0.5'
  ])
  // Rows measured at full speed keep no server CPU: no line.
  t.same(costLines([{ variant: 'ours', against: 'bare', min: 0.95 }], rows), [])
})

t.test('a table driven at a fixed rate: the server CPU column, and cost lines instead of req/s targets', async (t) => {
  const scenario: Scenario = { name: 's', description: 'a test', baseline: 'bare', variants: [], targets: [{ variant: 'ours', against: 'bare', min: 0.95 }] }
  const header = 'variant      req/s   p50 ms   p99 ms  errors  non2xx  x bare  redis cmd/req  redis µs/req  req/s per redis core  redis proc µs/req  server µs/req'
  t.equal(formatTable(scenario, fixed), [
    '## s: a test',
    header,
    '-'.repeat(header.length),
    'bare          1000     1.00     2.00       0       0    1.00     0 commands             -                     -                  -           20.0',
    'ours           900     1.50     3.00       1       2    0.90           1.00          1.25                  800k                3.5           22.5',
    'server cost: ours against bare: +2.5 µs a request; rounds -0.5 to +4.0'
  ].join('\n'))
  t.equal(formatTable({ ...scenario, targets: undefined }, fixed).split('\n').at(-1), 'ours           900     1.50     3.00       1       2    0.90           1.00          1.25                  800k                3.5           22.5')
})

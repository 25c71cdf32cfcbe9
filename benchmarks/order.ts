/**
 * The order in which a round measures `count` variants (indexes into the variant list): a
 * Williams design. Over `period(count)` rounds every variant is measured in every slot equally
 * often and right after every other variant equally often. What one measurement leaves behind (the
 * runner's garbage from driving a fast row, a Redis that idled through bare Fastify's turn) then
 * weighs on every row alike. A plain rotation (0 1 2, 1 2 0, 2 0 1) keeps the same neighbour
 * before each variant in every round. On the session read scenario, our row, which a rotation
 * always measured right after bare Fastify, came out at 0.80x the core-sender floor; with the
 * order reversed, and nothing else changed, at 0.98x.
 */
export function roundOrder (count: number, round: number): number[] {
  const step = round % period(count)
  const shift = step % count
  const row = firstRow(count).map((v) => (v + shift) % count)
  // An odd count needs each row backwards as well to balance who comes after whom.
  return step < count ? row : row.reverse()
}

/** How many rounds balance the order for `count` variants: count when even, twice that when odd. */
export function period (count: number): number {
  return count % 2 === 0 ? count : 2 * count
}

/** 0, 1, n-1, 2, n-2, ...: the differences between neighbours are then all distinct modulo n. */
function firstRow (count: number): number[] {
  return Array.from({ length: count }, (_, j) => j === 0 ? 0 : j % 2 === 1 ? (j + 1) / 2 : count - j / 2)
}

/**
 * A full collection in the runner before each measurement (when `npm run bench` gave node
 * --expose-gc): the garbage of driving the previous row is then not collected during the next.
 */
export function collectGarbage (): void {
  (globalThis as { gc?: () => void }).gc?.()
}

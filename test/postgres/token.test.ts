import t from 'tap'
import { signToken, verifyToken, MAX_TOKEN, VerifiedTokens, VERIFIED_TOKENS } from '../../plugins/postgres/src/token.js'
import { formatLsn, layoutOf, MAX_LSN, maxLsn, parseLsn, recordEnd } from '../../plugins/postgres/src/wal.js'

const A = 'a'.repeat(32)
const B = 'b'.repeat(32)

t.test('a token round-trips under any of the secrets and carries its position and date', async (t) => {
  const now = Date.now()
  const token = signToken(0x16b374d848n, now, [A])
  t.ok(token.length <= MAX_TOKEN)
  t.same(verifyToken(token, [A], now), { lsn: 0x16b374d848n, issuedAt: now, seenAt: now })
  t.same(verifyToken(token, [B, A], now + 1), { lsn: 0x16b374d848n, issuedAt: now, seenAt: now + 1 }, 'an older secret still verifies')
  t.equal(verifyToken(token, [B], now), null)
  t.equal(signToken(MAX_LSN, now, [A]).split('.')[1], 'ffffffffffffffff')
  t.ok(signToken(MAX_LSN, now, [A]).length <= MAX_TOKEN)
})

t.test('a token is read with its date as signed and the time this instance first read it', async (t) => {
  const now = Date.now()
  t.same(verifyToken(signToken(1n, now + 3_600_000, [A]), [A], now), { lsn: 1n, issuedAt: now + 3_600_000, seenAt: now }, 'dated ahead (a fast clock): still a token')
  t.same(verifyToken(signToken(1n, now - 60_000, [A]), [A], now), { lsn: 1n, issuedAt: now - 60_000, seenAt: now })
  t.equal(verifyToken(signToken(1n, now + 3_600_000, [B]), [A], now), null, 'a foreign one is ignored')
})

t.test('verified tokens are remembered, bounded, and only when valid', async (t) => {
  const now = Date.now()
  const tokens = new VerifiedTokens([B, A])
  const token = signToken(42n, now, [A])
  const first = tokens.verify(token, now)
  t.same(first, { lsn: 42n, issuedAt: now, seenAt: now })
  t.equal(tokens.verify(token, now + 60_000), first, 'the same verified token, without a second HMAC, first read at the same time')
  t.equal(tokens.size, 1)
  t.equal(tokens.verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), now), null, 'a forged signature')
  t.same(tokens.verify(signToken(1n, now + 60_000, [A]), now), { lsn: 1n, issuedAt: now + 60_000, seenAt: now }, 'dated ahead')
  t.equal(tokens.verify('garbage', now), null)
  t.equal(tokens.size, 2, 'nothing invalid is kept')
  for (let i = 0; i < VERIFIED_TOKENS + 10; i++) t.not(tokens.verify(signToken(BigInt(i + 100), now, [B]), now), null)
  t.equal(tokens.size, VERIFIED_TOKENS, 'bounded')
  const again = tokens.verify(token, now)
  t.same(again, first)
  t.not(again, first, 'the oldest were dropped: verified again')
})

t.test('WAL positions parse, format and compare exactly', async (t) => {
  t.equal(parseLsn('16/B374D848'), 0x16b374d848n)
  t.equal(parseLsn('FFFFFFFF/FFFFFFFF'), MAX_LSN)
  t.equal(parseLsn(null), null)
  t.equal(parseLsn('16-B374D848'), null)
  t.equal(parseLsn('123456789/0'), null)
  t.equal(formatLsn(0x16b374d848n), '16/B374D848')
  t.equal(formatLsn(0n), '0/0')
  t.equal(maxLsn(null, 5n), 5n)
  t.equal(maxLsn(3n, 5n), 5n)
  t.equal(maxLsn(MAX_LSN, 5n), MAX_LSN, 'a write whose position is unknown keeps the token at the largest')
})

t.test('an insert position just past a page or segment header stands for the boundary before it', async (t) => {
  const layout = layoutOf('8192', '16777216')
  t.same(layout, { block: 8192n, segment: 16777216n })
  t.equal(recordEnd(parseLsn('0/5000028') as bigint, layout), parseLsn('0/5000000'), 'a segment\'s long header (40 bytes)')
  t.equal(recordEnd(parseLsn('0/5002018') as bigint, layout), parseLsn('0/5002000'), 'a page\'s short header (24 bytes)')
  t.equal(recordEnd(parseLsn('0/5002028') as bigint, layout), parseLsn('0/5002028'), 'offset 40 of a page that opens no segment: a record\'s end')
  t.equal(recordEnd(parseLsn('0/5000018') as bigint, layout), parseLsn('0/5000018'), 'offset 24 of a segment\'s first page: inside its long header, left alone')
  t.equal(recordEnd(parseLsn('0/5002040') as bigint, layout), parseLsn('0/5002040'))
  t.equal(recordEnd(MAX_LSN, layout), MAX_LSN)
  t.equal(recordEnd(parseLsn('0/5000028') as bigint, null), parseLsn('0/5000028'), 'layout unknown: as it is')
  t.equal(layoutOf(undefined, '16777216'), null)
  t.equal(layoutOf('8192', '0'), null)
  t.equal(layoutOf('8192', 'x'), null)
})

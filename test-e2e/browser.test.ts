/// <reference lib="dom" />
import t from 'tap'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { startStack } from './stack.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

async function launch (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`)
  return await chromium.launch({
    executablePath: CHROMIUM,
    // The machine has no network beyond loopback: keep Chromium from calling home.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
}

// Drill 7: a person using the example page through HAProxy: the counter survives requests served
// by different instances, and a chat message from another browser shows up.
t.test('the example page in headless Chromium through the load balancer', async (t) => {
  const stack = await startStack('haproxy')
  t.teardown(stack.stop)
  const browser = await launch()
  t.teardown(async () => await browser.close())

  const alice = await (await browser.newContext()).newPage()
  await alice.goto(stack.lb.url + '/')
  await alice.fill('#name', 'alice')
  await alice.click('#login')
  await alice.waitForFunction(() => document.getElementById('user')?.textContent === 'alice')
  t.equal(await alice.textContent('#counter'), '1')
  for (let i = 2; i <= 9; i++) {
    await alice.click('#bump')
    await alice.waitForFunction((n) => document.getElementById('counter')?.textContent === String(n), i)
  }
  t.equal(await alice.textContent('#counter'), '9', 'the counter kept counting')
  const servedBy = await alice.$$eval('.served-by', (tags) => tags.map((tag) => tag.textContent))
  t.ok(new Set(servedBy).size >= 2, `requests were served by several instances: ${JSON.stringify(servedBy)}`)
  await alice.waitForFunction(() => document.getElementById('chat-state')?.textContent === 'open')

  const bob = await (await browser.newContext()).newPage()
  await bob.goto(stack.lb.url + '/')
  await bob.fill('#name', 'bob')
  await bob.click('#login')
  await bob.waitForFunction(() => document.getElementById('user')?.textContent === 'bob')
  await bob.waitForFunction(() => document.getElementById('chat-state')?.textContent === 'open')
  await bob.fill('#chat-input', 'hi alice, from another browser')
  await bob.click('#chat-send')
  await alice.waitForFunction(() => Array.from(document.querySelectorAll('#messages li')).some((li) => li.textContent?.startsWith('bob (via ') === true && li.textContent.endsWith('): hi alice, from another browser')))
  t.pass('alice saw bob\'s message')
  t.equal(await bob.textContent('#user'), 'bob')
  t.equal(await alice.textContent('#user'), 'alice', 'two browsers, two sessions')
  await alice.screenshot({ path: process.env.E2E_SCREENSHOT ?? '/tmp/scaleout-e2e-page.png' })
})

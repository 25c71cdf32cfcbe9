import { statusOf, type Observation } from './observations.js'

/** The longest `output` kept, in characters: an error message or a stack trace fits, a page of HTML does not. */
export const MAX_OUTPUT = 1024
/** The JSON of one check's observations kept in the report, in characters (a large Cluster's nodes fit). */
export const MAX_CHECK_JSON = 65_536
// Room kept for the summing-up observation, so the whole array stays within MAX_CHECK_JSON.
const SUMMARY_ROOM = 256

/** `text` cut to MAX_OUTPUT characters, saying how many were left out. */
export function clip (text: string): string {
  if (text.length <= MAX_OUTPUT) return text
  // Never cut a surrogate pair in half: JSON would carry a lone surrogate.
  const code = text.charCodeAt(MAX_OUTPUT - 1)
  const end = code >= 0xd800 && code <= 0xdbff ? MAX_OUTPUT - 1 : MAX_OUTPUT
  return `${text.slice(0, end)}… (${text.length - end} more characters)`
}

/**
 * What a check's result keeps for the report. Every /health answer serialises it, and a check's
 * text often comes from a dependency (an error page, a query), so it is bounded: each `output`
 * is clipped, and observations past MAX_CHECK_JSON are left out and summed up in a last one with
 * the worst status among them, so the check's status is unchanged. Each kept observation is a
 * JSON copy taken now: a nested object the check goes on changing (into a BigInt or a cycle, say)
 * cannot fail the report later, and the report shows what the check saw.
 */
export function bound (observations: readonly Observation[]): Observation[] {
  const kept: Observation[] = []
  let used = 2 + SUMMARY_ROOM
  let index = 0
  for (; index < observations.length; index++) {
    const observation = observations[index] as Observation
    const text = JSON.stringify(typeof observation.output === 'string' ? { ...observation, output: clip(observation.output) } : observation)
    if (used + text.length + 1 > MAX_CHECK_JSON) break
    used += text.length + 1
    kept.push(JSON.parse(text) as Observation)
  }
  const left = observations.slice(index)
  if (left.length === 0) return kept
  const output = `${left.length} more observation${left.length === 1 ? '' : 's'} left out: over the ${MAX_CHECK_JSON}-character limit of a check's report`
  kept.push({ status: statusOf(left), output, time: (left[0] as Observation).time })
  return kept
}

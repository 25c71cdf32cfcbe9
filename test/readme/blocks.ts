import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')

/** Fence languages that are not code of ours: printed output, shell lines, proxy and deploy configs. */
export const NOT_CODE = new Set(['sh', 'shell', 'text', 'json', 'nginx', 'haproxy', 'yaml'])
export const CODE = new Set(['ts', 'typescript', 'js'])

export interface Block {
  /** The README, relative to the repository root. */
  readme: string
  /** 1-based line of the opening fence. */
  line: number
  language: string
  code: string
  /** `<!-- run: METHOD /path STATUS[, METHOD /path STATUS ...] -->` on the line before the fence. */
  run?: Array<{ method: string, url: string, status: number }>
  /** `<!-- continues -->` on the line before the fence: checked after the previous code block of the README. */
  continues: boolean
}

export function readmes (): string[] {
  const plugins = readdirSync(join(ROOT, 'plugins')).map((name) => join(ROOT, 'plugins', name, 'README.md'))
  return [join(ROOT, 'README.md'), join(ROOT, 'lib', 'README.md'), ...plugins.sort()]
}

export function blocksOf (file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] as string)
    if (open === null) continue
    const end = lines.indexOf('```', i + 1)
    if (end === -1) throw new Error(`${file}:${i + 1}: unclosed fence`)
    const marker = i > 0 ? (lines[i - 1] as string).trim() : ''
    const run = /^<!-- run: (.+) -->$/.exec(marker)
    blocks.push({
      readme: relative(ROOT, file),
      line: i + 1,
      language: (open[1] as string).trim(),
      code: lines.slice(i + 1, end).join('\n') + '\n',
      ...(run === null ? {} : { run: (run[1] as string).split(', ').map((request) => requestOf(file, i + 1, request)) }),
      continues: marker === '<!-- continues -->'
    })
    i = end
  }
  return blocks
}

function requestOf (file: string, line: number, text: string): { method: string, url: string, status: number } {
  const parts = /^([A-Z]+) (\S+) (\d{3})$/.exec(text)
  if (parts === null) throw new Error(`${file}:${line}: a run marker lists METHOD /path STATUS, got ${JSON.stringify(text)}`)
  return { method: parts[1] as string, url: parts[2] as string, status: Number(parts[3]) }
}

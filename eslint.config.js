import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['**/dist/**', 'test/readme/.snippets/**', 'node_modules/**', '.tap/**', 'benchmarks/results/**', 'coverage/**']
})

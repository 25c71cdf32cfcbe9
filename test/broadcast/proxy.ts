// Broadcast's frozen-link tests use the one freezing proxy every plugin's half-open tests share.
export { FreezingProxy } from '../helpers/freezing-proxy.js'

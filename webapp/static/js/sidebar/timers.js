/* The call clock and the customer-wait clock, worked out from the call's persisted times (no timers of their own:
 * a reload or another tab reads the same clocks). Pure functions of the call, so any module can use them. */

export function callSeconds(call) { return call ? Math.max(0, (Date.now() - call.startedAt) / 1000) : 0; }

export function waitSeconds(call) {
  if (!call) return 0;
  return (call.waitMs + (call.waitSince ? Math.max(0, Date.now() - call.waitSince) : 0)) / 1000;
}

/* The clocks that go with every request, so the server's timer rules can fire. */
export function clocks(call) {
  return call ? { call_seconds: Math.floor(callSeconds(call)), wait_seconds: Math.floor(waitSeconds(call)) } : {};
}

export function formatClock(seconds) {
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, '0') + ':' + String(r).padStart(2, '0');
  return h ? h + ':' + mm : mm;
}

/* The call in progress and the uploads the server has not accepted yet (ctx.store), kept in localStorage under
 * 'kb-sidebar:<user>' as {call, outbox}, so a reload or an outage loses nothing; sidebar tabs of the same agent share
 * that state. */

export function load(ctx) {
  try {
    const saved = JSON.parse(window.localStorage.getItem(ctx.storeKey) || '{}');
    ctx.store.call = saved.call && saved.call.id && saved.call.startedAt && Array.isArray(saved.call.unchecked)
      ? saved.call : null;
    ctx.store.outbox = Array.isArray(saved.outbox) ? saved.outbox : [];
  } catch (err) {
    ctx.store.call = null; ctx.store.outbox = [];
  }
}

export function save(ctx) {
  try {
    window.localStorage.setItem(ctx.storeKey, JSON.stringify({ call: ctx.store.call, outbox: ctx.store.outbox }));
  } catch (err) {
    /* storage full or disabled: the page still works, only a reload would lose the call */
  }
}

export function uid() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, function (b) { return b.toString(16).padStart(2, '0'); }).join('');
}

// One agent has one call at a time: a second sidebar tab shows and changes the same call. When another tab saves,
// take its state, so neither tab writes back an older copy (which could resurrect an ended call or drop uploads).
// `onChange(before)` then redraws; `before` is the id of the call this tab had (or null).
export function watchOtherTabs(ctx, onChange) {
  window.addEventListener('storage', function (event) {
    if (event.key !== ctx.storeKey) return;
    const before = ctx.store.call && ctx.store.call.id;
    load(ctx);
    onChange(before);
  });
}

/* Agent sidebar: suggestions as the agent types, a disclosure checklist for the whole call, escalation steps,
 * call and customer-wait timers, and the call record uploaded when the call ends.
 *
 * This is the sidebar's entry module (templates/agent/sidebar.html loads it with type="module"; the whole-article
 * page loads only article.js): it builds the one context object the other modules share and wires them together.
 * Nothing is put on `window`.
 *
 * Only the server's `snippet` (HTML-escaped, with <mark>) and `html` (sanitised) fields are inserted as HTML;
 * every other string goes through textContent. The call in progress and any upload the server has not yet accepted
 * are kept in localStorage, so a reload or an outage loses nothing; sidebar tabs of the same agent share that state.
 */
import { clearAnswers, initAnswers, renderAnswers } from './answers.js';
import { initCallBar, renderCall } from './call.js';
import { load, watchOtherTabs } from './callstore.js';
import { sidebarElements } from './dom.js';
import { renderHistory } from './history.js';
import { initKeyboard } from './keyboard.js';
import { openStream } from './live.js';
import { initRules, renderRules } from './rules.js';
import { initSuggest, poll, recheck, retryNow, startPolling, typingState } from './suggest.js';
import { renderTranscript } from './transcript.js';
import { flushOutbox } from './uploads.js';

/* Everything one sidebar shares between modules, passed to each explicitly. */
function createContext(root) {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  return {
    root: root,
    urls: JSON.parse(root.dataset.urls),
    typeLabels: JSON.parse(root.dataset.typeLabels),  // from kb.articles.TYPE_LABELS, the one source
    csrf: csrfMeta ? csrfMeta.content : '',
    storeKey: 'kb-sidebar:' + root.dataset.user,
    el: sidebarElements(),
    store: { call: null, outbox: [] },  // the call in progress and uploads not yet accepted (callstore.js, persisted)
    view: { query: '', answers: [], selected: -1, expanded: new Set() },  // the answers on screen (answers.js)
    typing: typingState(),  // answer requests in flight and their timers (suggest.js)
    net: { failures: 0, retryTimer: null, flushing: false },  // connection state (transport.js, uploads.js)
    hooks: {},  // calls from transport.js back up to the modules that use it, set in initSidebar
  };
}

function initSidebar(root) {
  const ctx = createContext(root);
  const el = ctx.el;
  ctx.hooks.retry = function () { retryNow(ctx); };
  ctx.hooks.reconnected = function () { recheck(ctx); flushOutbox(ctx); };

  watchOtherTabs(ctx, function (before) {
    const call = ctx.store.call;
    if (before && (!call || call.id !== before)) { el.query.value = ''; clearAnswers(ctx); }
    renderCall(ctx);
    renderRules(ctx);
    renderHistory(ctx);
    renderTranscript(ctx);
    flushOutbox(ctx);
  });
  initSuggest(ctx);
  initAnswers(ctx);
  initRules(ctx);
  initCallBar(ctx);
  initKeyboard(ctx);

  /* ---- start ------------------------------------------------------------------------------------------------ */

  load(ctx);
  renderCall(ctx);
  renderRules(ctx);
  renderHistory(ctx);
  renderAnswers(ctx);
  renderTranscript(ctx);
  openStream(ctx);
  setInterval(function () { if (ctx.store.call) renderCall(ctx); }, 1000);
  startPolling(ctx);
  if (ctx.store.call) { poll(ctx, false); recheck(ctx); }
  flushOutbox(ctx);
  el.query.focus();
}

function start() {
  const sidebar = document.getElementById('sidebar');
  if (sidebar) initSidebar(sidebar);
}

// A module script is deferred: it runs once the document has been parsed (readyState 'interactive'), just before
// DOMContentLoaded. Start then; wait for DOMContentLoaded only if it was loaded some other way while still parsing.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();

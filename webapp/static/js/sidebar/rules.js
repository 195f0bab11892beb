/* The prompts of the whole call: adding the disclosures and escalations a settled text (or a clock re-check, or a
 * live utterance) fired, drawing both lists and the header chips, and what the agent does with them (tick, mark
 * handled, dismiss as not applying, restore). How each kind looks is in checklist.js and escalations.js. */
import { save } from './callstore.js';
import { markTicked, renderChecklist } from './checklist.js';
import { setNotice } from './dom.js';
import { renderEscalations } from './escalations.js';
import { callSeconds } from './timers.js';

/* Add the prompts a settled text (or a clock re-check, raisedBy '') fired; each keeps the text that raised it,
 * so a prompt the agent dismisses can be traced back to its wording in content health. */
export function mergeRules(ctx, result, raisedBy, live) {
  const call = ctx.store.call;
  if (!call) return;
  // a live utterance is whole when it counts (final), so the prefix logic of typing does not apply to it
  if (!live && raisedBy && supersedes(call.lastSettled || '', raisedBy)) return;  // a longer settled text answered
  if (!live && raisedBy) call.lastSettled = raisedBy;
  const withdrawn = !live && raisedBy ? withdrawUnsupported(call, result, raisedBy) : false;
  let added = [];
  const fresh = { text: raisedBy, fired_at: Math.floor(callSeconds(call)), dismissed: false, dismiss_reason: '',
    dismissed_at: null };
  (result.disclosures || []).forEach(function (d) {
    if (call.disclosures.some(function (x) { return x.id === d.id; })) return;
    call.disclosures.push(Object.assign({ id: d.id, title: d.title, say: d.text, reason: d.reason, how: d.how,
      ticked: false, ticked_at: null, ticked_by: '' }, fresh));
    added.push('须告知：' + d.title);
  });
  (result.escalations || []).forEach(function (e) {
    if (call.escalations.some(function (x) { return x.id === e.id; })) return;
    call.escalations.push(Object.assign({ id: e.id, title: e.title, steps: e.steps || [], reason: e.reason,
      how: e.how, handled: false }, fresh));
    added.push('需要升级：' + e.title);
  });
  if (!added.length && !withdrawn) return;
  save(ctx);
  renderRules(ctx);
  if (added.length) setNotice(ctx, added.join('；'));
}

// `later` is what the agent went on to type after settling on `earlier` (the same text, continued).
function supersedes(later, earlier) {
  return later !== earlier && later.indexOf(earlier) === 0;
}

/* A pause mid-sentence settles a prefix; a prompt it raised stands only while the continued text still raises
 * it. Prompts the agent already acted on (ticked, handled, dismissed) stay. Returns whether any was withdrawn. */
function withdrawUnsupported(call, result, text) {
  const still = new Set((result.disclosures || []).concat(result.escalations || [])
    .map(function (r) { return r.id; }));
  let withdrawn = false;
  const keep = function (p) {
    const untouched = !p.ticked && !p.handled && !p.dismissed;
    if (untouched && p.text && supersedes(text, p.text) && !still.has(p.id)) {
      withdrawn = true;
      return false;
    }
    return true;
  };
  call.disclosures = call.disclosures.filter(keep);
  call.escalations = call.escalations.filter(keep);
  return withdrawn;
}

export function renderRules(ctx) {
  const el = ctx.el;
  const openEscalations = renderEscalations(ctx);
  const disclosures = renderChecklist(ctx);
  el.chipEsc.hidden = !openEscalations;
  el.chipEsc.textContent = '升级待处理 ' + openEscalations;
  el.chipDisc.hidden = disclosures.ticked === disclosures.required;
  el.chipDisc.textContent = '须告知未说明 ' + (disclosures.required - disclosures.ticked);
}

function setTicked(ctx, id, ticked) {
  const call = ctx.store.call;
  const d = call && call.disclosures.find(function (x) { return x.id === id; });
  if (!d) return;
  markTicked(call, d, ticked);
  save(ctx);
  renderRules(ctx);
}

/* Alt+K: tick the first disclosure still to say. */
export function tickNext(ctx) {
  const call = ctx.store.call;
  const d = call && call.disclosures.find(function (x) { return !x.ticked && !x.dismissed; });
  if (d) { setTicked(ctx, d.id, true); setNotice(ctx, '已勾选：' + d.title); }
}

/* ---- dismissing a prompt that does not apply ------------------------------------------------------------- */

function ruleOf(ctx, node) {
  const call = ctx.store.call;
  const item = node && node.closest('[data-id]');
  if (!item || !call) return null;
  const list = item.parentElement === ctx.el.escList ? call.escalations : call.disclosures;
  return list.find(function (x) { return x.id === item.dataset.id; }) || null;
}

function ruleNode(container, id) {
  return Array.from(container.children).find(function (node) { return node.dataset.id === id; }) || null;
}

function setDismissed(ctx, item, dismissed) {
  item.dismissed = dismissed;
  item.dismiss_reason = '';
  item.dismissed_at = dismissed ? Math.floor(callSeconds(ctx.store.call)) : null;
  save(ctx);
  renderRules(ctx);
}

function setDismissReason(ctx, item, reason) {
  if (!item.dismissed || item.dismiss_reason === reason) return;
  item.dismiss_reason = reason.slice(0, 200);
  save(ctx);
  renderRules(ctx);
}

/* Dismiss one prompt and put the cursor in its (optional) reason field: Enter or Esc goes back to typing. */
function dismiss(ctx, item, container) {
  setDismissed(ctx, item, true);
  const node = ruleNode(container, item.id);
  if (node) node.querySelector('.dismiss-reason').focus();
  setNotice(ctx, '已标记不适用：' + item.title + '。可填原因（可不填），Enter 返回输入。');
}

/* Alt+B: the newest open escalation, else the newest unticked disclosure. */
export function dismissNewest(ctx) {
  const call = ctx.store.call;
  if (!call) return;
  const open = function (list, done) {
    return list.slice().reverse().find(function (x) { return !x.dismissed && !x[done]; });
  };
  const escalation = open(call.escalations, 'handled');
  if (escalation) { dismiss(ctx, escalation, ctx.el.escList); return; }
  const disclosure = open(call.disclosures, 'ticked');
  if (disclosure) dismiss(ctx, disclosure, ctx.el.discList);
}

/* ---- the lists' own controls ------------------------------------------------------------------------------ */

export function initRules(ctx) {
  const el = ctx.el;

  el.discList.addEventListener('change', function (event) {
    if (!event.target.classList.contains('disc-check')) return;
    setTicked(ctx, event.target.closest('.disc').dataset.id, event.target.checked);
    el.query.focus();
  });

  function onRuleClick(event) {
    const button = event.target.closest('.rule-dismiss, .rule-restore, .dismiss-preset');
    const item = button && ruleOf(ctx, button);
    if (!item) return;
    if (button.classList.contains('rule-dismiss')) { dismiss(ctx, item, event.currentTarget); return; }
    if (button.classList.contains('rule-restore')) {
      setDismissed(ctx, item, false);
      setNotice(ctx, '已恢复：' + item.title);
    } else setDismissReason(ctx, item, button.textContent);
    el.query.focus();
  }

  function onReasonKey(event) {
    if (!event.target.classList.contains('dismiss-reason')) return;
    if (event.key !== 'Enter' && event.key !== 'Escape') return;
    event.preventDefault();
    const item = ruleOf(ctx, event.target);
    if (item && event.key === 'Enter') setDismissReason(ctx, item, event.target.value.trim());
    el.query.focus();
  }

  function onReasonChange(event) {
    if (!event.target.classList.contains('dismiss-reason')) return;
    const item = ruleOf(ctx, event.target);
    if (item) setDismissReason(ctx, item, event.target.value.trim());
  }

  [el.escList, el.discList].forEach(function (list) {
    list.addEventListener('click', onRuleClick);
    list.addEventListener('keydown', onReasonKey);
    list.addEventListener('change', onReasonChange);
  });

  el.escList.addEventListener('click', function (event) {
    if (!event.target.classList.contains('esc-done')) return;
    const id = event.target.closest('.esc').dataset.id;
    const call = ctx.store.call;
    const e = call && call.escalations.find(function (x) { return x.id === id; });
    if (!e) return;
    e.handled = !e.handled;
    save(ctx);
    renderRules(ctx);
    el.query.focus();
  });
}

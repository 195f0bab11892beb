/* The call itself: starting it, the customer's hold (客户等待), ending it (asking first while disclosures are still
 * to say) and the call record uploaded when it ends; the call bar that shows its state and clocks. */
import { clearAnswers } from './answers.js';
import { save, uid } from './callstore.js';
import { setNotice, textElement } from './dom.js';
import { renderHistory } from './history.js';
import { firedRecord } from './prompts.js';
import { renderRules } from './rules.js';
import { callSeconds, formatClock, waitSeconds } from './timers.js';
import { renderTranscript } from './transcript.js';
import { enqueue } from './uploads.js';

export function startCall(ctx) {
  if (ctx.store.call) return;
  ctx.store.call = { id: uid(), startedAt: Date.now(), startedIso: new Date().toISOString(), waitMs: 0,
    waitSince: null, lastLogged: '', texts: [], unchecked: [], shown: [], opened: [], feedback: [], votes: {},
    disclosures: [], escalations: [] };
  save(ctx);
  renderCall(ctx);
  renderRules(ctx);
  setNotice(ctx, '通话开始计时。');
}

export function toggleWait(ctx) {
  const call = ctx.store.call;
  if (!call) return;
  if (call.waitSince) {
    call.waitMs += Math.max(0, Date.now() - call.waitSince);
    call.waitSince = null;
    setNotice(ctx, '客户等待结束。');
  } else {
    call.waitSince = Date.now();
    setNotice(ctx, '客户等待计时中。');
  }
  save(ctx);
  renderCall(ctx);
}

export function requestEnd(ctx) {
  const el = ctx.el, call = ctx.store.call;
  if (!call) return;
  const open = call.disclosures.filter(function (d) { return !d.ticked && !d.dismissed; });
  if (!open.length) { finishCall(ctx, false); return; }
  el.endList.replaceChildren();
  open.forEach(function (d) { el.endList.appendChild(textElement('li', d.title)); });
  el.dialog.showModal();
  el.endBack.focus();
}

export function finishCall(ctx, confirmedUnticked) {
  const el = ctx.el, call = ctx.store.call;
  if (!call) return;
  if (call.waitSince) { call.waitMs += Math.max(0, Date.now() - call.waitSince); call.waitSince = null; }
  const duration = Math.floor(callSeconds(call));
  const record = {
    client_id: call.id, started_at: call.startedIso,
    ended_at: new Date(call.startedAt + duration * 1000).toISOString(),
    duration_seconds: duration, wait_seconds: Math.min(Math.floor(call.waitMs / 1000), duration),
    texts: call.texts, answers_shown: call.shown, answers_opened: call.opened, feedback: call.feedback,
    disclosures: call.disclosures.map(function (d) {
      return Object.assign(firedRecord(d), { ticked: d.ticked, ticked_at: d.ticked_at,
        ticked_by: d.ticked ? (d.ticked_by || 'hand') : '',
        said_text: d.ticked && d.said ? d.said.text.slice(0, 2000) : '',
        said_score: d.ticked && d.said ? d.said.score : null,
        said_offset_ms: d.ticked && d.said ? d.said.offset_ms : null });
    }),
    escalations: call.escalations.map(function (e) {
      return Object.assign(firedRecord(e), { handled: e.handled });
    }),
    unticked_confirmed: confirmedUnticked,
  };
  if (call.liveRef) record.live_call_ref = call.liveRef;
  ctx.store.call = null;
  el.query.value = '';
  clearAnswers(ctx);
  renderCall(ctx);
  renderRules(ctx);
  renderHistory(ctx);
  renderTranscript(ctx);
  enqueue(ctx, 'call', ctx.urls.calls, record);
  setNotice(ctx, '通话已结束，正在保存通话记录…');
  el.query.focus();
}

export function renderCall(ctx) {
  const el = ctx.el, call = ctx.store.call;
  const active = Boolean(call), waiting = Boolean(call && call.waitSince);
  el.callState.dataset.state = active ? (waiting ? 'waiting' : 'active') : 'idle';
  el.callLabel.textContent = active ? (waiting ? '客户等待中' : '通话中') : '未在通话';
  el.callTime.textContent = active ? formatClock(callSeconds(call)) : '--:--';
  el.waitTime.textContent = formatClock(waitSeconds(call));
  el.waitBtn.disabled = !active;
  el.waitBtn.setAttribute('aria-pressed', String(waiting));
  el.callBtn.textContent = active ? '结束通话' : '开始通话';
  el.callBtn.classList.toggle('danger', active);
  el.callBtn.classList.toggle('primary', !active);
}

/* The call bar's buttons and the end-of-call dialog. */
export function initCallBar(ctx) {
  const el = ctx.el;
  el.callBtn.addEventListener('click', function () {
    if (ctx.store.call) requestEnd(ctx); else startCall(ctx);
    el.query.focus();
  });
  el.waitBtn.addEventListener('click', function () { toggleWait(ctx); el.query.focus(); });
  el.endBack.addEventListener('click', function () { el.dialog.close(); });
  el.endAnyway.addEventListener('click', function () { el.dialog.close(); finishCall(ctx, true); });
  el.dialog.addEventListener('close', function () { el.query.focus(); });
}

/* Suggestions as the agent types: a request 150 ms after the last keystroke (answers only), a settled text after a
 * 1.2 s pause or Enter (logged, kept in the call, raises prompts), stale requests cancelled and never an older answer
 * over a newer one; the rules poll with the clocks; and texts whose request failed, sent again once the server
 * answers. Request bookkeeping lives in ctx.typing. */
import { clearAnswers, keepShown, showAnswers } from './answers.js';
import { startCall } from './call.js';
import { save } from './callstore.js';
import { setNotice } from './dom.js';
import { keepText } from './history.js';
import { mergeRules } from './rules.js';
import { clocks } from './timers.js';
import { connectionLost, connectionOk, failureKind, timedRequest } from './transport.js';

const DEBOUNCE_MS = 150;     // pause in typing before asking for suggestions
const SETTLE_MS = 1200;      // pause after which the text counts as typed (logged, kept in the call record)
const POLL_MS = 15000;       // rules are re-checked this often with the clocks: timer escalations fire by themselves
const ANSWERS = 5;

/* The request bookkeeping of one sidebar (ctx.typing). */
export function typingState() {
  return {
    seq: 0,             // number of the latest answer request sent
    shownSeq: 0,        // number of the request whose answers are on screen: an older one never replaces it
    pending: [],        // answer requests in flight, each {request, text, log}
    debounceTimer: null, settleTimer: null, pollInflight: false,
    lastKeyAt: 0,       // when the agent last typed: live answers do not replace what they are typing
  };
}

function onType(ctx) {
  const typing = ctx.typing;
  typing.lastKeyAt = Date.now();
  clearTimeout(typing.debounceTimer);
  clearTimeout(typing.settleTimer);
  typing.debounceTimer = setTimeout(function () { requestAnswers(ctx, false); }, DEBOUNCE_MS);
  typing.settleTimer = setTimeout(function () {
    const text = ctx.el.query.value.trim();
    const call = ctx.store.call;
    if (text && (!call || text !== call.lastLogged)) requestAnswers(ctx, true);
  }, SETTLE_MS);
}

/* Ask for answers to the current text. `log` marks a settled text: the call keeps it and the server logs it. */
export function requestAnswers(ctx, log) {
  clearTimeout(ctx.typing.debounceTimer);
  const text = ctx.el.query.value.trim();
  if (!text) { clearAnswers(ctx); return; }
  if (!ctx.store.call) startCall(ctx);
  // keystroke requests for other text are stale: cancel them. Settled ones finish, because what the customer
  // said must still raise its disclosures even when the agent has moved on before the answer came.
  ctx.typing.pending.forEach(function (p) { if (p.text !== text && !p.log) p.request.abort(); });
  if (log) keepText(ctx, text);
  send(ctx, text, log);
}

function send(ctx, text, log) {
  const typing = ctx.typing;
  const request = timedRequest(ctx, ctx.urls.suggest,
    Object.assign({ text: text, k: ANSWERS, log: log }, clocks(ctx.store.call)));
  const mySeq = ++typing.seq, callId = ctx.store.call.id;
  const entry = { request: request, text: text, log: log };
  typing.pending = typing.pending.filter(function (p) { return !p.request.signal.aborted; }).concat([entry]);
  request.promise.then(function (result) {
    connectionOk(ctx);
    if (!ctx.store.call || ctx.store.call.id !== callId) return;
    const current = text === ctx.el.query.value.trim();
    // Prompts come only from what the agent settled on: a half-typed prefix may raise a rule that the finished
    // sentence does not support. Answers still follow every keystroke.
    if (log) mergeRules(ctx, result, text);
    if (current && mySeq > typing.shownSeq) {  // never an older answer over a newer one, nor one for other text
      typing.shownSeq = mySeq;
      showAnswers(ctx, text, result.answers || []);
    }
    if (log) keepShown(ctx, text, result.answers || []);
  }).catch(function (err) {
    if (request.signal.aborted && !request.timedOut) return;  // replaced by a newer request
    const kind = failureKind(err);
    if (kind === 'bad') {
      setNotice(ctx, err.status === 413 ? '文字太长，请缩短到 2000 字以内。' : '无法查询：' + err.message, true);
      return;
    }
    const call = ctx.store.call;
    if (log && call && call.id === callId && call.unchecked.indexOf(text) < 0) {
      call.unchecked.push(text);
      save(ctx);
    }
    connectionLost(ctx, kind);
  }).finally(function () {
    typing.pending = typing.pending.filter(function (p) { return p !== entry; });
  });
}

/* Re-check the rules with the clocks only (empty text: no search, nothing logged). */
export function poll(ctx, probe) {
  const typing = ctx.typing;
  if (typing.pollInflight || (!ctx.store.call && !probe)) return;
  typing.pollInflight = true;
  const callId = ctx.store.call && ctx.store.call.id;
  const request = timedRequest(ctx, ctx.urls.suggest,
    Object.assign({ text: '', k: 1, log: false }, clocks(ctx.store.call)));
  request.promise.then(function (result) {
    connectionOk(ctx);
    if (ctx.store.call && ctx.store.call.id === callId) mergeRules(ctx, result, '');
  }).catch(function (err) {
    if (failureKind(err) !== 'bad') connectionLost(ctx, failureKind(err));
  }).finally(function () { typing.pollInflight = false; });
}

/* The clock re-check every POLL_MS while a call is on and no retry is waiting. */
export function startPolling(ctx) {
  setInterval(function () { if (ctx.store.call && !ctx.net.retryTimer) poll(ctx, false); }, POLL_MS);
}

/* Settled texts whose request failed are sent again once the server answers: their rules must still fire. */
export function recheck(ctx) {
  const call = ctx.store.call;
  if (!call || !call.unchecked.length) return;
  const texts = call.unchecked;
  call.unchecked = [];
  save(ctx);
  texts.forEach(function (text) { send(ctx, text, true); });
}

/* One probe: the current text's answers if they are not on screen yet, otherwise a rules poll. */
export function retryNow(ctx) {
  const text = ctx.el.query.value.trim();
  if (text && text !== ctx.view.query) requestAnswers(ctx, false); else poll(ctx, true);
}

/* Typing in the input, searching a text from the call's history again, and coming back online. */
export function initSuggest(ctx) {
  const el = ctx.el;
  el.historyList.addEventListener('click', function (event) {
    const button = event.target.closest('.history-item');
    if (!button) return;
    el.query.value = button.textContent;
    el.query.focus();
    requestAnswers(ctx, false);
  });
  el.query.addEventListener('input', function (event) { if (!event.isComposing) onType(ctx); });
  el.query.addEventListener('compositionend', function () { onType(ctx); });
  window.addEventListener('online', function () { retryNow(ctx); });
}

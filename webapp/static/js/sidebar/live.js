/* Live call: the transcript pushed by the server (Server-Sent Events on /agent/live/stream).
 *
 * The telephony integration posts the call's transcript (docs/interfaces.md); the server pushes each change to
 * the sidebar of the agent the call is bound to. A final customer utterance brings the same suggestions typing
 * would (answers, disclosures, escalations); a final agent utterance brings the rules it fires and the
 * disclosures it said, which tick themselves. EventSource reconnects by itself and sends the last event id, so
 * a dropped connection or the server's periodic end of the stream loses no line. */
import { keepShown, showAnswers } from './answers.js';
import { finishCall, requestEnd, startCall } from './call.js';
import { save } from './callstore.js';
import { tickSaid } from './checklist.js';
import { setNotice } from './dom.js';
import { mergeRules, renderRules } from './rules.js';
import { renderTranscript } from './transcript.js';

/* Open the stream (resuming after the last event this call has seen); returns the EventSource, or null when the
 * page has no live URL or the browser no EventSource. */
export function openStream(ctx) {
  if (!ctx.urls.live || !window.EventSource) return null;
  const call = ctx.store.call;
  const after = call && call.liveLastId ? '?after=' + call.liveLastId : '';
  const stream = new EventSource(ctx.urls.live + after);
  stream.addEventListener('utterance', function (event) { onLiveEvent(ctx, event, onUtterance); });
  stream.addEventListener('end', function (event) { onLiveEvent(ctx, event, onLiveEnd); });
  stream.addEventListener('open', function () { ctx.root.dataset.live = 'open'; });
  stream.addEventListener('error', function () { ctx.root.dataset.live = 'reconnecting'; });
  return stream;
}

function onLiveEvent(ctx, event, handle) {
  const id = Number(event.lastEventId);
  let data;
  try { data = JSON.parse(event.data); } catch (err) { return; }
  let call = ctx.store.call;
  if (call && call.liveRef === data.call_ref && id <= (call.liveLastId || 0)) return;  // seen (other tab, replay)
  handle(ctx, data);
  call = ctx.store.call;  // the handler may have ended the call or started one
  if (call && call.liveRef === data.call_ref) { call.liveLastId = id; save(ctx); }
}

function bindLiveCall(ctx, ref) {
  if (ctx.store.call && ctx.store.call.liveRef && ctx.store.call.liveRef !== ref) {
    finishCall(ctx, false);  // the previous live call is over
  }
  if (!ctx.store.call) startCall(ctx);
  const call = ctx.store.call;
  if (!call.liveRef) {
    call.liveRef = ref;
    call.transcript = [];
    save(ctx);
  }
}

function onUtterance(ctx, data) {
  const u = data.utterance;
  if (!u) return;
  bindLiveCall(ctx, data.call_ref);
  const call = ctx.store.call, typing = ctx.typing;
  const key = u.speaker + ':' + u.offset_ms;
  const line = { key: key, speaker: u.speaker, text: u.text, offset_ms: u.offset_ms, final: u.final };
  const index = call.transcript.findIndex(function (x) { return x.key === key; });
  if (index >= 0) { if (!call.transcript[index].final) call.transcript[index] = line; }
  else call.transcript.push(line);
  call.transcript.sort(function (a, b) { return a.offset_ms - b.offset_ms || (a.speaker < b.speaker ? -1 : 1); });
  save(ctx);
  renderTranscript(ctx);
  if (!u.final) return;
  const result = data.suggestions;
  if (result) {
    if (u.speaker === 'customer') {
      keepShown(ctx, u.text, result.answers || []);
      if (Date.now() - typing.lastKeyAt > 5000) {  // the agent is not typing: show what the customer's words bring
        typing.shownSeq = ++typing.seq;
        showAnswers(ctx, u.text, result.answers || []);
      }
    }
    mergeRules(ctx, result, u.text, true);
  }
  // the server matched the agent's words against the disclosures required so far (and any they fired)
  (data.said || []).forEach(function (match) {
    const said = { text: u.text, part: match.text, score: match.score, offset_ms: u.offset_ms };
    const d = call.disclosures.find(function (x) { return x.id === match.rule_id; });
    if (d) tickSaid(ctx, d, said);
  });
  save(ctx);
  renderRules(ctx);
}

function onLiveEnd(ctx, data) {
  const call = ctx.store.call;
  if (!call || call.liveRef !== data.call_ref) return;
  call.liveEnded = true;
  save(ctx);
  setNotice(ctx, '通话已挂断，请确认须告知事项后结束通话。');
  requestEnd(ctx);
}

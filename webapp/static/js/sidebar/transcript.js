/* The live call's transcript panel, drawn from the call's persisted transcript (text only). Kept apart from live.js
 * (which receives the lines) because ending a call redraws it too, and call.js must not depend on the stream. */
import { textElement } from './dom.js';
import { formatClock } from './timers.js';

export function renderTranscript(ctx) {
  const el = ctx.el, call = ctx.store.call;
  const lines = call && call.transcript ? call.transcript : [];
  el.livePanel.hidden = !(call && call.liveRef);
  el.liveRef.textContent = call && call.liveRef ? call.liveRef : '';
  el.liveList.replaceChildren();
  lines.forEach(function (line) {
    const li = document.createElement('li');
    li.className = 'live-line ' + line.speaker + (line.final ? '' : ' partial');
    li.dataset.speaker = line.speaker;
    li.dataset.offset = String(line.offset_ms);
    const who = textElement('span', line.speaker === 'customer' ? '客户' : '坐席', 'who');
    const text = textElement('span', line.text, 'text');
    const at = textElement('span', formatClock(line.offset_ms / 1000), 'at');
    li.append(who, text, at);
    el.liveList.appendChild(li);
  });
  el.liveList.scrollTop = el.liveList.scrollHeight;
}

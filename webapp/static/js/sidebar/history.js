/* The texts this call has looked up (settled texts, kept in the call record), newest first. Clicking one searches
 * it again: that click is handled in suggest.js, which owns the requests. */
import { save } from './callstore.js';
import { textElement } from './dom.js';

/* A settled text joins the call's history once (typing the same text again adds nothing). */
export function keepText(ctx, text) {
  const call = ctx.store.call;
  if (call.lastLogged === text) return;
  call.lastLogged = text;
  call.texts.push(text);
  save(ctx);
  renderHistory(ctx);
}

export function renderHistory(ctx) {
  const el = ctx.el, call = ctx.store.call;
  const texts = call ? call.texts : [];
  el.historyList.replaceChildren();
  texts.slice().reverse().forEach(function (text) {
    const li = document.createElement('li');
    const button = textElement('button', text, 'link history-item');
    button.type = 'button';
    li.appendChild(button);
    el.historyList.appendChild(li);
  });
  el.historyCount.textContent = String(texts.length);
  el.history.hidden = texts.length === 0;
}

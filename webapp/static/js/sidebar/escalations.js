/* Escalation cards: the numbered steps, why the escalation fired, and whether the agent has handled it. */
import { textElement } from './dom.js';
import { renderDismissal, syncList } from './prompts.js';
import { formatClock } from './timers.js';

function buildEscalation(ctx, e) {
  const card = ctx.el.tplEscalation.content.firstElementChild.cloneNode(true);
  card.querySelector('.esc-title').textContent = e.title;
  card.querySelector('.why').textContent = '触发：' + e.reason + ' · ' + formatClock(e.fired_at);
  const steps = card.querySelector('.esc-steps');
  e.steps.forEach(function (step) { steps.appendChild(textElement('li', step)); });
  return card;
}

function updateEscalation(card, e) {
  card.classList.toggle('handled', e.handled);
  card.querySelector('.esc-done').textContent = e.handled ? '已处理（点此重新打开）' : '标记已处理';
  renderDismissal(card, e);
}

/* Draw the call's escalations; returns how many are open (neither dismissed nor handled). */
export function renderEscalations(ctx) {
  const el = ctx.el, call = ctx.store.call;
  const escalations = call ? call.escalations : [];
  syncList(el.escList, escalations, function (e) { return buildEscalation(ctx, e); }, updateEscalation);
  const liveEscalations = escalations.filter(function (e) { return !e.dismissed; });
  el.escPanel.hidden = escalations.length === 0;
  el.escPanel.classList.toggle('all-handled', liveEscalations.every(function (e) { return e.handled; }));
  return liveEscalations.filter(function (e) { return !e.handled; }).length;
}

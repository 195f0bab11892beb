/* The disclosure checklist: what a disclosure card shows (the words to say, why it fired, what the agent said),
 * the count of those said, and what ticking one means. Saving and redrawing after a tick is rules.js's job. */
import { setNotice } from './dom.js';
import { isOldDisclosure, renderDismissal, syncList } from './prompts.js';
import { callSeconds, formatClock } from './timers.js';

function buildDisclosure(ctx, d) {
  const li = ctx.el.tplDisclosure.content.firstElementChild.cloneNode(true);
  li.querySelector('.disc-check').setAttribute('aria-describedby', 'say-' + d.id);
  li.querySelector('.disc-title').textContent = d.title;
  const say = li.querySelector('.disc-say');
  say.id = 'say-' + d.id;
  say.textContent = isOldDisclosure(d) ? d.text : d.say;
  li.querySelector('.why').textContent = '触发：' + d.reason + ' · ' + formatClock(d.fired_at);
  return li;
}

function updateDisclosure(li, d) {
  li.classList.toggle('ticked', d.ticked);
  li.classList.toggle('said-ticked', d.ticked && d.ticked_by === 'speech');
  li.querySelector('.disc-check').checked = d.ticked;
  const said = li.querySelector('.said');
  said.hidden = !(d.ticked && d.said);
  if (d.ticked && d.said) {
    said.textContent = '已说（' + formatClock(d.said.offset_ms / 1000) + '，匹配度 ' +
      d.said.score.toFixed(2) + '）：「' + d.said.text + '」';
  }
  renderDismissal(li, d);
}

/* Draw the call's disclosures; returns how many are required (not dismissed) and how many of those are ticked. */
export function renderChecklist(ctx) {
  const el = ctx.el, call = ctx.store.call;
  const disclosures = call ? call.disclosures : [];
  syncList(el.discList, disclosures, function (d) { return buildDisclosure(ctx, d); }, updateDisclosure);
  const required = disclosures.filter(function (d) { return !d.dismissed; });
  const ticked = required.filter(function (d) { return d.ticked; }).length;
  el.discCount.textContent = ticked + '/' + required.length + ' 已说明';
  el.discPanel.hidden = disclosures.length === 0;
  el.discPanel.classList.toggle('done', ticked === required.length);
  return { required: required.length, ticked: ticked };
}

/* The agent ticked or unticked a disclosure by hand (state only; the caller saves and redraws). */
export function markTicked(call, d, ticked) {
  d.ticked = ticked;
  d.ticked_at = ticked ? Math.floor(callSeconds(call)) : null;
  d.ticked_by = ticked ? 'hand' : '';
  if (!ticked) { d.handUnticked = true; d.said = null; }  // the agent's word beats the matcher's: no re-tick
}

/* The agent's own words said this disclosure: tick it, keeping which utterance did and with what score. */
export function tickSaid(ctx, d, said) {
  if (d.ticked || d.dismissed || d.handUnticked) return;
  d.ticked = true;
  d.ticked_at = Math.floor(said.offset_ms / 1000);
  d.ticked_by = 'speech';
  d.said = said;
  setNotice(ctx, '已自动勾选：' + d.title);
}

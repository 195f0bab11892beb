/* The answers on screen (ctx.view): drawing them, choosing one (↑/↓, click), and what the agent does with one:
 * expand the section, open the whole article, copy the words to say, vote. Only the server's `snippet`
 * (HTML-escaped, with <mark>) and `html` (sanitised) fields are inserted as HTML; everything else is textContent. */
import { save } from './callstore.js';
import { setNotice } from './dom.js';
import { callSeconds } from './timers.js';
import { enqueue } from './uploads.js';

// Fused scores are relative: a dense-only match tops out at 0.6 (the dense weight), so a best answer at or below it
// had no keyword evidence at all and is offered as "closest", not as a match.
const WEAK_SCORE = 0.6;

export function answerKey(a) { return a.article_id + '\u0000' + a.heading; }

export function showAnswers(ctx, text, answers) {
  const view = ctx.view;
  const same = text === view.query && answers.length === view.answers.length &&
    answers.every(function (a, i) { return answerKey(a) === answerKey(view.answers[i]); });
  view.answers = answers;
  ctx.el.answers.classList.remove('stale');
  if (same) return;  // keep the agent's selection and expanded sections
  view.query = text;
  view.selected = answers.length ? 0 : -1;
  view.expanded.clear();
  renderAnswers(ctx);
}

/* Empty the answers. Requests still in flight for typed text are cancelled and none of them may show its answers
 * afterwards (ctx.typing, the request bookkeeping of suggest.js); settled ones still bring their rules. */
export function clearAnswers(ctx) {
  const typing = ctx.typing, view = ctx.view;
  clearTimeout(typing.settleTimer);
  typing.pending.forEach(function (p) { if (!p.log) p.request.abort(); });  // settled ones still bring their rules
  typing.shownSeq = ++typing.seq;
  view.query = '';
  view.answers = [];
  view.selected = -1;
  view.expanded.clear();
  renderAnswers(ctx);
}

/* Answers the call showed for `text` (once per text), for the call record. */
export function keepShown(ctx, text, answers) {
  const call = ctx.store.call;
  if (!call || call.shown.some(function (s) { return s.query === text; })) return;
  answers.forEach(function (a) {
    call.shown.push({ query: text, article_id: a.article_id, heading: a.heading, title: a.title });
  });
  save(ctx);
}

function articleUrl(ctx, a) {
  return ctx.urls.article.replace('ARTICLE_ID', encodeURIComponent(a.article_id)) +
    '?h=' + encodeURIComponent(a.heading);
}

export function renderAnswers(ctx) {
  const el = ctx.el, view = ctx.view, typeLabels = ctx.typeLabels;
  const answers = view.answers, text = view.query;
  el.answers.replaceChildren();
  el.idleHint.hidden = Boolean(text);
  const weak = answers.length > 0 && answers[0].score <= WEAK_SCORE;
  el.empty.hidden = !text || (answers.length > 0 && !weak);
  if (text) {
    el.emptyText.textContent = answers.length
      ? '没有找到与「' + text + '」直接相关的内容，下面是最接近的文章：'
      : '没有找到与「' + text + '」相关的内容。换个说法或用更短的关键词试试。';
    el.broader.href = ctx.urls.search + '?q=' + encodeURIComponent(text);
  }
  el.answers.classList.toggle('weak', weak);
  answers.forEach(function (a, index) {
    const li = el.tplAnswer.content.firstElementChild.cloneNode(true);
    const type = typeLabels[a.type] ? a.type : 'other';
    li.id = 'answer-' + index;
    li.dataset.index = String(index);
    li.dataset.articleId = a.article_id;
    const badge = li.querySelector('.badge');
    badge.textContent = typeLabels[a.type] || a.type;
    badge.classList.add('type-' + type);
    li.querySelector('.ans-title').textContent = a.title;
    li.querySelector('.ans-heading').textContent = a.heading;
    li.querySelector('.ans-snippet').innerHTML = a.snippet;  // server-escaped, <mark> only
    li.querySelector('.act-copy').textContent = (a.scripts && a.scripts.length) ? '复制话术' : '复制本段';
    li.querySelector('.act-article').href = articleUrl(ctx, a);
    el.answers.appendChild(li);
    renderAnswerState(ctx, index);
  });
  updateSelection(ctx);
}

function answerItem(ctx, index) { return ctx.el.answers.children[index] || null; }

export function renderAnswerState(ctx, index) {
  const view = ctx.view, call = ctx.store.call;
  const li = answerItem(ctx, index), a = view.answers[index];
  if (!li || !a) return;
  const open = view.expanded.has(index), body = li.querySelector('.ans-body');
  if (open && !body.childElementCount) body.innerHTML = a.html;  // sanitised on the server
  body.hidden = !open;
  li.querySelector('.ans-snippet').hidden = open;
  li.querySelector('.act-expand').textContent = open ? '收起' : '展开';
  li.classList.toggle('open', open);
  const vote = call && call.votes ? call.votes[answerKey(a)] : undefined;
  li.querySelector('.act-yes').setAttribute('aria-pressed', String(vote === true));
  li.querySelector('.act-no').setAttribute('aria-pressed', String(vote === false));
}

function updateSelection(ctx, scroll) {
  const el = ctx.el, view = ctx.view;
  Array.from(el.answers.children).forEach(function (li, index) {
    const on = index === view.selected;
    li.classList.toggle('selected', on);
    if (on) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
  });
  if (view.selected >= 0) {
    el.query.setAttribute('aria-activedescendant', 'answer-' + view.selected);
    const li = answerItem(ctx, view.selected);
    if (scroll && li) li.scrollIntoView({ block: 'nearest' });
  } else {
    el.query.removeAttribute('aria-activedescendant');
  }
}

/* ↑/↓: choose the previous or next answer, wrapping around. */
export function move(ctx, step) {
  const view = ctx.view;
  if (!view.answers.length) return;
  const n = view.answers.length;
  view.selected = view.selected < 0 ? 0 : (view.selected + step + n) % n;
  updateSelection(ctx, true);
}

/* ---- answer actions --------------------------------------------------------------------------------------- */

function noteOpened(ctx, a, action) {
  const call = ctx.store.call;
  if (!call) return;
  call.opened.push({ article_id: a.article_id, heading: a.heading, action: action, at: Math.floor(callSeconds(call)) });
  save(ctx);
}

export function toggleExpand(ctx, index) {
  const view = ctx.view;
  const a = view.answers[index];
  if (!a) return;
  if (view.expanded.has(index)) view.expanded.delete(index);
  else { view.expanded.add(index); noteOpened(ctx, a, 'expand'); }
  view.selected = index;
  renderAnswerState(ctx, index);
  updateSelection(ctx);
}

export function openArticle(ctx, index) {
  const a = ctx.view.answers[index];
  if (!a) return;
  noteOpened(ctx, a, 'article');
  window.open(articleUrl(ctx, a), '_blank', 'noopener');
}

function plainText(html) {
  return new DOMParser().parseFromString(html, 'text/html').body.textContent.replace(/\n{3,}/g, '\n\n').trim();
}

function writeClipboard(ctx, text) {
  const fallback = function () {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    ctx.el.query.focus();
    if (!ok) throw new Error('copy refused');
  };
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(fallback);
  }
  return Promise.resolve().then(fallback);
}

export function copyAnswer(ctx, index) {
  const a = ctx.view.answers[index];
  if (!a) return;
  const script = a.scripts && a.scripts.length;
  const text = script ? a.scripts.join('\n\n') : plainText(a.html);
  writeClipboard(ctx, text).then(function () {
    noteOpened(ctx, a, 'copy');
    setNotice(ctx, script ? '已复制话术：' + a.title : '已复制本段：' + a.title);
  }, function () {
    setNotice(ctx, '无法复制到剪贴板，请展开后手动选择文字。', true);
  });
}

export function vote(ctx, index, helpful) {
  const view = ctx.view, call = ctx.store.call;
  const a = view.answers[index];
  if (!a) return;
  const key = answerKey(a);
  if (call) {
    if (call.votes[key] === helpful) return;
    call.votes[key] = helpful;
    call.feedback.push({ article_id: a.article_id, heading: a.heading, query: view.query, helpful: helpful });
    save(ctx);
  }
  enqueue(ctx, 'feedback', ctx.urls.feedback,
    { article_id: a.article_id, heading: a.heading, query: view.query.slice(0, 2000), helpful: helpful });
  renderAnswerState(ctx, index);
  setNotice(ctx, helpful ? '已记录：有用。谢谢反馈。' : '已记录：没用。编辑会据此改进内容。');
}

export function initAnswers(ctx) {
  const view = ctx.view;
  ctx.el.answers.addEventListener('click', function (event) {
    const li = event.target.closest('.ans');
    if (!li) return;
    const index = Number(li.dataset.index);
    const button = event.target.closest('.act');
    view.selected = index;
    updateSelection(ctx);
    if (!button) return;
    if (button.classList.contains('act-expand')) toggleExpand(ctx, index);
    else if (button.classList.contains('act-copy')) copyAnswer(ctx, index);
    else if (button.classList.contains('act-yes')) vote(ctx, index, true);
    else if (button.classList.contains('act-no')) vote(ctx, index, false);
    else if (button.classList.contains('act-article')) noteOpened(ctx, view.answers[index], 'article');
  });
}

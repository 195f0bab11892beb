/* Agent sidebar: suggestions as the agent types, a disclosure checklist for the whole call, escalation steps,
 * call and customer-wait timers, and the call record uploaded when the call ends.
 *
 * Only the server's `snippet` (HTML-escaped, with <mark>) and `html` (sanitised) fields are inserted as HTML;
 * every other string goes through textContent. The call in progress and any upload the server has not yet accepted
 * are kept in localStorage, so a reload or an outage loses nothing; sidebar tabs of the same agent share that state.
 */
(function () {
  'use strict';

  const DEBOUNCE_MS = 150;     // pause in typing before asking for suggestions
  const SETTLE_MS = 1200;      // pause after which the text counts as typed (logged, kept in the call record)
  const POLL_MS = 15000;       // rules are re-checked this often with the clocks: timer escalations fire by themselves
  const TIMEOUT_MS = 10000;    // a request that takes longer counts as a lost connection
  const RETRY_MAX_MS = 15000;  // back-off ceiling while the server is unreachable
  const ANSWERS = 5;
  // Fused scores are relative: a dense-only match tops out at 0.6 (the dense weight), so a best answer at or below it
  // had no keyword evidence at all and is offered as "closest", not as a match.
  const WEAK_SCORE = 0.6;

  document.addEventListener('DOMContentLoaded', function () {
    const sidebar = document.getElementById('sidebar');
    if (sidebar) initSidebar(sidebar);
    const article = document.querySelector('[data-article-page]');
    if (article) highlightSection(article);
  });

  /* On a whole-article page opened from an answer (?h=heading), mark and scroll to that section. */
  function highlightSection(article) {
    const wanted = new URLSearchParams(window.location.search).get('h');
    if (!wanted) return;
    const last = wanted.split('›').pop().trim();
    const headings = Array.from(article.querySelectorAll('.article-body :is(h1, h2, h3, h4)'));
    const heading = headings.find(function (h) { return h.textContent.trim() === last; });
    if (!heading) return;
    const level = Number(heading.tagName.slice(1));
    heading.classList.add('in-target', 'target-head');
    for (let node = heading.nextElementSibling; node; node = node.nextElementSibling) {
      if (/^H[1-6]$/.test(node.tagName) && Number(node.tagName.slice(1)) <= level) break;
      node.classList.add('in-target');
    }
    heading.scrollIntoView({ block: 'start' });
  }

  function initSidebar(root) {
    const urls = JSON.parse(root.dataset.urls);
    const TYPE_LABELS = JSON.parse(root.dataset.typeLabels);  // from kb.articles.TYPE_LABELS, the one source
    const csrfMeta = document.querySelector('meta[name="csrf-token"]');
    const csrf = csrfMeta ? csrfMeta.content : '';
    const storeKey = 'kb-sidebar:' + root.dataset.user;
    const byId = function (id) { return document.getElementById(id); };
    const el = {
      query: byId('query'), notice: byId('notice'), banner: byId('banner'), bannerText: byId('banner-text'),
      bannerLink: byId('banner-link'), callState: byId('call-state'), callLabel: byId('call-label'),
      callTime: byId('call-time'), waitBtn: byId('wait-btn'), waitTime: byId('wait-time'), callBtn: byId('call-btn'),
      escPanel: byId('escalations'), escList: byId('esc-list'), discPanel: byId('disclosures'),
      discList: byId('disc-list'), discCount: byId('disc-count'), answers: byId('answers'), empty: byId('empty'),
      emptyText: byId('empty-text'), broader: byId('broader'), idleHint: byId('idle-hint'),
      chipEsc: byId('chip-esc'), chipDisc: byId('chip-disc'),
      history: byId('history'), historyCount: byId('history-count'), historyList: byId('history-list'),
      dialog: byId('end-dialog'), endList: byId('end-list'), endBack: byId('end-back'), endAnyway: byId('end-anyway'),
      livePanel: byId('live'), liveList: byId('live-list'), liveRef: byId('live-ref'),
      tplAnswer: byId('tpl-answer'), tplEscalation: byId('tpl-escalation'), tplDisclosure: byId('tpl-disclosure'),
    };

    let call = null;     // the call in progress (persisted)
    let outbox = [];     // uploads the server has not accepted yet (persisted)
    const view = { query: '', answers: [], selected: -1, expanded: new Set() };
    let seq = 0;         // number of the latest answer request sent
    let shownSeq = 0;    // number of the request whose answers are on screen: an older one never replaces it
    let pending = [];    // answer requests in flight, each {request, text, log}
    let debounceTimer = null, settleTimer = null, pollInflight = false;
    let failures = 0, retryTimer = null, flushing = false;
    let lastKeyAt = 0;   // when the agent last typed: live answers do not replace what they are typing

    /* ---- persistence ------------------------------------------------------------------------------------------ */

    function load() {
      try {
        const saved = JSON.parse(window.localStorage.getItem(storeKey) || '{}');
        call = saved.call && saved.call.id && saved.call.startedAt && Array.isArray(saved.call.unchecked)
          ? saved.call : null;
        outbox = Array.isArray(saved.outbox) ? saved.outbox : [];
      } catch (err) {
        call = null; outbox = [];
      }
    }

    function save() {
      try {
        window.localStorage.setItem(storeKey, JSON.stringify({ call: call, outbox: outbox }));
      } catch (err) {
        /* storage full or disabled: the page still works, only a reload would lose the call */
      }
    }

    function uid() {
      const bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.from(bytes, function (b) { return b.toString(16).padStart(2, '0'); }).join('');
    }

    // One agent has one call at a time: a second sidebar tab shows and changes the same call. When another tab saves,
    // take its state, so neither tab writes back an older copy (which could resurrect an ended call or drop uploads).
    window.addEventListener('storage', function (event) {
      if (event.key !== storeKey) return;
      const before = call && call.id;
      load();
      if (before && (!call || call.id !== before)) { el.query.value = ''; clearAnswers(); }
      renderCall();
      renderRules();
      renderHistory();
      renderTranscript();
      flushOutbox();
    });

    /* ---- clocks ----------------------------------------------------------------------------------------------- */

    function callSeconds() { return call ? Math.max(0, (Date.now() - call.startedAt) / 1000) : 0; }
    function waitSeconds() {
      if (!call) return 0;
      return (call.waitMs + (call.waitSince ? Math.max(0, Date.now() - call.waitSince) : 0)) / 1000;
    }
    function clocks() {
      return call ? { call_seconds: Math.floor(callSeconds()), wait_seconds: Math.floor(waitSeconds()) } : {};
    }
    function formatClock(seconds) {
      const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
      const mm = String(m).padStart(2, '0') + ':' + String(r).padStart(2, '0');
      return h ? h + ':' + mm : mm;
    }

    /* ---- network ---------------------------------------------------------------------------------------------- */

    function post(url, body, signal) {
      return fetch(url, {
        method: 'POST', credentials: 'same-origin', signal: signal, body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf },
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (!response.ok) {
            const err = new Error((data && data.error) || ('HTTP ' + response.status));
            err.status = response.status;
            throw err;
          }
          return data;
        });
      });
    }

    /* A request with its own AbortController that also gives up after TIMEOUT_MS. */
    function timedRequest(url, body) {
      const controller = new AbortController();
      const timer = setTimeout(function () { controller.timedOut = true; controller.abort(); }, TIMEOUT_MS);
      controller.promise = post(url, body, controller.signal).finally(function () { clearTimeout(timer); });
      return controller;
    }

    /* 'down' (no answer, 5xx, 429: retry), 'auth' (logged out), 'stale' (CSRF token changed) or 'bad' (this request
     * will never succeed as sent). */
    function failureKind(err) {
      if (err.status === 401) return 'auth';
      if (err.status === 400 && /CSRF/i.test(err.message)) return 'stale';
      if (!err.status || err.status >= 500 || err.status === 429 || err.status === 408) return 'down';
      return 'bad';
    }

    function connectionLost(kind) {
      if (kind === 'auth') {
        showBanner('登录已过期，请重新登录。通话记录已暂存，不会丢失。', '重新登录', urls.login);
      } else if (kind === 'stale') {
        showBanner('页面已过期，请刷新页面。通话记录已暂存，不会丢失。', '刷新', window.location.pathname);
      } else {
        failures += 1;
        showBanner('连接中断，正在重试…');
        scheduleRetry();
      }
      el.answers.classList.add('stale');
    }

    function connectionOk() {
      if (!failures && el.banner.hidden) return;
      failures = 0;
      clearTimeout(retryTimer);
      retryTimer = null;
      el.banner.hidden = true;
      el.answers.classList.remove('stale');
      recheck();
      flushOutbox();
    }

    function showBanner(text, linkText, href) {
      el.bannerText.textContent = text;
      el.bannerLink.hidden = !linkText;
      if (linkText) { el.bannerLink.textContent = linkText; el.bannerLink.href = href; }
      el.banner.hidden = false;
    }

    function scheduleRetry() {
      if (retryTimer) return;
      const delay = Math.min(1000 * Math.pow(2, Math.min(failures - 1, 5)), RETRY_MAX_MS);
      retryTimer = setTimeout(function () { retryTimer = null; retryNow(); }, delay);
    }

    /* One probe: the current text's answers if they are not on screen yet, otherwise a rules poll. */
    function retryNow() {
      const text = el.query.value.trim();
      if (text && text !== view.query) requestAnswers(false); else poll(true);
    }

    /* ---- suggestions ------------------------------------------------------------------------------------------ */

    function onType() {
      lastKeyAt = Date.now();
      clearTimeout(debounceTimer);
      clearTimeout(settleTimer);
      debounceTimer = setTimeout(function () { requestAnswers(false); }, DEBOUNCE_MS);
      settleTimer = setTimeout(function () {
        const text = el.query.value.trim();
        if (text && (!call || text !== call.lastLogged)) requestAnswers(true);
      }, SETTLE_MS);
    }

    /* Ask for answers to the current text. `log` marks a settled text: the call keeps it and the server logs it. */
    function requestAnswers(log) {
      clearTimeout(debounceTimer);
      const text = el.query.value.trim();
      if (!text) { clearAnswers(); return; }
      if (!call) startCall();
      // keystroke requests for other text are stale: cancel them. Settled ones finish, because what the customer
      // said must still raise its disclosures even when the agent has moved on before the answer came.
      pending.forEach(function (p) { if (p.text !== text && !p.log) p.request.abort(); });
      if (log) keepText(text);
      send(text, log);
    }

    function send(text, log) {
      const request = timedRequest(urls.suggest, Object.assign({ text: text, k: ANSWERS, log: log }, clocks()));
      const mySeq = ++seq, callId = call.id;
      const entry = { request: request, text: text, log: log };
      pending = pending.filter(function (p) { return !p.request.signal.aborted; }).concat([entry]);
      request.promise.then(function (result) {
        connectionOk();
        if (!call || call.id !== callId) return;
        const current = text === el.query.value.trim();
        // Prompts come only from what the agent settled on: a half-typed prefix may raise a rule that the finished
        // sentence does not support. Answers still follow every keystroke.
        if (log) mergeRules(result, text);
        if (current && mySeq > shownSeq) {  // never an older answer over a newer one, nor one for other text
          shownSeq = mySeq;
          showAnswers(text, result.answers || []);
        }
        if (log) keepShown(text, result.answers || []);
      }).catch(function (err) {
        if (request.signal.aborted && !request.timedOut) return;  // replaced by a newer request
        const kind = failureKind(err);
        if (kind === 'bad') {
          setNotice(err.status === 413 ? '文字太长，请缩短到 2000 字以内。' : '无法查询：' + err.message, true);
          return;
        }
        if (log && call && call.id === callId && call.unchecked.indexOf(text) < 0) {
          call.unchecked.push(text);
          save();
        }
        connectionLost(kind);
      }).finally(function () {
        pending = pending.filter(function (p) { return p !== entry; });
      });
    }

    /* Re-check the rules with the clocks only (empty text: no search, nothing logged). */
    function poll(probe) {
      if (pollInflight || (!call && !probe)) return;
      pollInflight = true;
      const callId = call && call.id;
      const request = timedRequest(urls.suggest, Object.assign({ text: '', k: 1, log: false }, clocks()));
      request.promise.then(function (result) {
        connectionOk();
        if (call && call.id === callId) mergeRules(result, '');
      }).catch(function (err) {
        if (failureKind(err) !== 'bad') connectionLost(failureKind(err));
      }).finally(function () { pollInflight = false; });
    }

    /* Settled texts whose request failed are sent again once the server answers: their rules must still fire. */
    function recheck() {
      if (!call || !call.unchecked.length) return;
      const texts = call.unchecked;
      call.unchecked = [];
      save();
      texts.forEach(function (text) { send(text, true); });
    }

    function keepText(text) {
      if (call.lastLogged === text) return;
      call.lastLogged = text;
      call.texts.push(text);
      save();
      renderHistory();
    }

    function keepShown(text, answers) {
      if (!call || call.shown.some(function (s) { return s.query === text; })) return;
      answers.forEach(function (a) {
        call.shown.push({ query: text, article_id: a.article_id, heading: a.heading, title: a.title });
      });
      save();
    }

    /* The texts this call has looked up, newest first; clicking one searches it again. */
    function renderHistory() {
      const texts = call ? call.texts : [];
      el.historyList.replaceChildren();
      texts.slice().reverse().forEach(function (text) {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link history-item';
        button.textContent = text;
        li.appendChild(button);
        el.historyList.appendChild(li);
      });
      el.historyCount.textContent = String(texts.length);
      el.history.hidden = texts.length === 0;
    }

    el.historyList.addEventListener('click', function (event) {
      const button = event.target.closest('.history-item');
      if (!button) return;
      el.query.value = button.textContent;
      el.query.focus();
      requestAnswers(false);
    });

    function answerKey(a) { return a.article_id + '\u0000' + a.heading; }

    function showAnswers(text, answers) {
      const same = text === view.query && answers.length === view.answers.length &&
        answers.every(function (a, i) { return answerKey(a) === answerKey(view.answers[i]); });
      view.answers = answers;
      el.answers.classList.remove('stale');
      if (same) return;  // keep the agent's selection and expanded sections
      view.query = text;
      view.selected = answers.length ? 0 : -1;
      view.expanded.clear();
      renderAnswers();
    }

    function clearAnswers() {
      clearTimeout(settleTimer);
      pending.forEach(function (p) { if (!p.log) p.request.abort(); });  // settled ones still bring their rules
      shownSeq = ++seq;
      view.query = '';
      view.answers = [];
      view.selected = -1;
      view.expanded.clear();
      renderAnswers();
    }

    function articleUrl(a) {
      return urls.article.replace('ARTICLE_ID', encodeURIComponent(a.article_id)) +
        '?h=' + encodeURIComponent(a.heading);
    }

    function renderAnswers() {
      const answers = view.answers, text = view.query;
      el.answers.replaceChildren();
      el.idleHint.hidden = Boolean(text);
      const weak = answers.length > 0 && answers[0].score <= WEAK_SCORE;
      el.empty.hidden = !text || (answers.length > 0 && !weak);
      if (text) {
        el.emptyText.textContent = answers.length
          ? '没有找到与「' + text + '」直接相关的内容，下面是最接近的文章：'
          : '没有找到与「' + text + '」相关的内容。换个说法或用更短的关键词试试。';
        el.broader.href = urls.search + '?q=' + encodeURIComponent(text);
      }
      el.answers.classList.toggle('weak', weak);
      answers.forEach(function (a, index) {
        const li = el.tplAnswer.content.firstElementChild.cloneNode(true);
        const type = TYPE_LABELS[a.type] ? a.type : 'other';
        li.id = 'answer-' + index;
        li.dataset.index = String(index);
        li.dataset.articleId = a.article_id;
        const badge = li.querySelector('.badge');
        badge.textContent = TYPE_LABELS[a.type] || a.type;
        badge.classList.add('type-' + type);
        li.querySelector('.ans-title').textContent = a.title;
        li.querySelector('.ans-heading').textContent = a.heading;
        li.querySelector('.ans-snippet').innerHTML = a.snippet;  // server-escaped, <mark> only
        li.querySelector('.act-copy').textContent = (a.scripts && a.scripts.length) ? '复制话术' : '复制本段';
        li.querySelector('.act-article').href = articleUrl(a);
        el.answers.appendChild(li);
        renderAnswerState(index);
      });
      updateSelection();
    }

    function answerItem(index) { return el.answers.children[index] || null; }

    function renderAnswerState(index) {
      const li = answerItem(index), a = view.answers[index];
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

    function updateSelection(scroll) {
      Array.from(el.answers.children).forEach(function (li, index) {
        const on = index === view.selected;
        li.classList.toggle('selected', on);
        if (on) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
      });
      if (view.selected >= 0) {
        el.query.setAttribute('aria-activedescendant', 'answer-' + view.selected);
        const li = answerItem(view.selected);
        if (scroll && li) li.scrollIntoView({ block: 'nearest' });
      } else {
        el.query.removeAttribute('aria-activedescendant');
      }
    }

    function move(step) {
      if (!view.answers.length) return;
      const n = view.answers.length;
      view.selected = view.selected < 0 ? 0 : (view.selected + step + n) % n;
      updateSelection(true);
    }

    /* ---- answer actions --------------------------------------------------------------------------------------- */

    function noteOpened(a, action) {
      if (!call) return;
      call.opened.push({ article_id: a.article_id, heading: a.heading, action: action, at: Math.floor(callSeconds()) });
      save();
    }

    function toggleExpand(index) {
      const a = view.answers[index];
      if (!a) return;
      if (view.expanded.has(index)) view.expanded.delete(index);
      else { view.expanded.add(index); noteOpened(a, 'expand'); }
      view.selected = index;
      renderAnswerState(index);
      updateSelection();
    }

    function openArticle(index) {
      const a = view.answers[index];
      if (!a) return;
      noteOpened(a, 'article');
      window.open(articleUrl(a), '_blank', 'noopener');
    }

    function plainText(html) {
      return new DOMParser().parseFromString(html, 'text/html').body.textContent.replace(/\n{3,}/g, '\n\n').trim();
    }

    function writeClipboard(text) {
      const fallback = function () {
        const area = document.createElement('textarea');
        area.value = text;
        area.setAttribute('readonly', '');
        area.className = 'offscreen';
        document.body.appendChild(area);
        area.select();
        const ok = document.execCommand('copy');
        area.remove();
        el.query.focus();
        if (!ok) throw new Error('copy refused');
      };
      if (navigator.clipboard && window.isSecureContext) {
        return navigator.clipboard.writeText(text).catch(fallback);
      }
      return Promise.resolve().then(fallback);
    }

    function copyAnswer(index) {
      const a = view.answers[index];
      if (!a) return;
      const script = a.scripts && a.scripts.length;
      const text = script ? a.scripts.join('\n\n') : plainText(a.html);
      writeClipboard(text).then(function () {
        noteOpened(a, 'copy');
        setNotice(script ? '已复制话术：' + a.title : '已复制本段：' + a.title);
      }, function () {
        setNotice('无法复制到剪贴板，请展开后手动选择文字。', true);
      });
    }

    function vote(index, helpful) {
      const a = view.answers[index];
      if (!a) return;
      const key = answerKey(a);
      if (call) {
        if (call.votes[key] === helpful) return;
        call.votes[key] = helpful;
        call.feedback.push({ article_id: a.article_id, heading: a.heading, query: view.query, helpful: helpful });
        save();
      }
      enqueue('feedback', urls.feedback,
        { article_id: a.article_id, heading: a.heading, query: view.query.slice(0, 2000), helpful: helpful });
      renderAnswerState(index);
      setNotice(helpful ? '已记录：有用。谢谢反馈。' : '已记录：没用。编辑会据此改进内容。');
    }

    el.answers.addEventListener('click', function (event) {
      const li = event.target.closest('.ans');
      if (!li) return;
      const index = Number(li.dataset.index);
      const button = event.target.closest('.act');
      view.selected = index;
      updateSelection();
      if (!button) return;
      if (button.classList.contains('act-expand')) toggleExpand(index);
      else if (button.classList.contains('act-copy')) copyAnswer(index);
      else if (button.classList.contains('act-yes')) vote(index, true);
      else if (button.classList.contains('act-no')) vote(index, false);
      else if (button.classList.contains('act-article')) noteOpened(view.answers[index], 'article');
    });

    /* ---- disclosures and escalations (for the whole call) ----------------------------------------------------- */

    /* Add the prompts a settled text (or a clock re-check, raisedBy '') fired; each keeps the text that raised it,
     * so a prompt the agent dismisses can be traced back to its wording in content health. */
    function mergeRules(result, raisedBy, live) {
      if (!call) return;
      // a live utterance is whole when it counts (final), so the prefix logic of typing does not apply to it
      if (!live && raisedBy && supersedes(call.lastSettled || '', raisedBy)) return;  // a longer settled text answered
      if (!live && raisedBy) call.lastSettled = raisedBy;
      const withdrawn = !live && raisedBy ? withdrawUnsupported(result, raisedBy) : false;
      let added = [];
      const fresh = { text: raisedBy, fired_at: Math.floor(callSeconds()), dismissed: false, dismiss_reason: '',
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
      save();
      renderRules();
      if (added.length) setNotice(added.join('；'));
    }

    // `later` is what the agent went on to type after settling on `earlier` (the same text, continued).
    function supersedes(later, earlier) {
      return later !== earlier && later.indexOf(earlier) === 0;
    }

    /* A pause mid-sentence settles a prefix; a prompt it raised stands only while the continued text still raises
     * it. Prompts the agent already acted on (ticked, handled, dismissed) stay. Returns whether any was withdrawn. */
    function withdrawUnsupported(result, text) {
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

    /* Keep `container`'s children in step with `items` (keyed by id): new items are built once (and flash),
     * existing ones only have their state updated, so a tick never replaces the element under the pointer. */
    function syncList(container, items, build, update) {
      const existing = new Map(Array.from(container.children).map(function (node) { return [node.dataset.id, node]; }));
      items.forEach(function (item, index) {
        let node = existing.get(item.id);
        if (!node) {
          node = build(item);
          node.dataset.id = item.id;
          node.classList.add('fresh');
        }
        existing.delete(item.id);
        update(node, item);
        if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null);
      });
      existing.forEach(function (node) { node.remove(); });
    }

    function buildEscalation(e) {
      const card = el.tplEscalation.content.firstElementChild.cloneNode(true);
      card.querySelector('.esc-title').textContent = e.title;
      card.querySelector('.why').textContent = '触发：' + e.reason + ' · ' + formatClock(e.fired_at);
      const steps = card.querySelector('.esc-steps');
      e.steps.forEach(function (step) {
        const li = document.createElement('li');
        li.textContent = step;
        steps.appendChild(li);
      });
      return card;
    }

    function buildDisclosure(d) {
      const li = el.tplDisclosure.content.firstElementChild.cloneNode(true);
      li.querySelector('.disc-check').setAttribute('aria-describedby', 'say-' + d.id);
      li.querySelector('.disc-title').textContent = d.title;
      const say = li.querySelector('.disc-say');
      say.id = 'say-' + d.id;
      say.textContent = isOldDisclosure(d) ? d.text : d.say;
      li.querySelector('.why').textContent = '触发：' + d.reason + ' · ' + formatClock(d.fired_at);
      return li;
    }

    /* A dismissed prompt stays listed, collapsed, with its optional reason and a way back. */
    function renderDismissal(node, item) {
      node.classList.toggle('dismissed', item.dismissed);
      node.querySelector('.rule-dismiss').hidden = item.dismissed;
      node.querySelector('.dismissed-box').hidden = !item.dismissed;
      const reason = node.querySelector('.dismiss-reason');
      if (document.activeElement !== reason) reason.value = item.dismiss_reason || '';
    }

    function renderRules() {
      const escalations = call ? call.escalations : [], disclosures = call ? call.disclosures : [];
      syncList(el.escList, escalations, buildEscalation, function (card, e) {
        card.classList.toggle('handled', e.handled);
        card.querySelector('.esc-done').textContent = e.handled ? '已处理（点此重新打开）' : '标记已处理';
        renderDismissal(card, e);
      });
      const liveEscalations = escalations.filter(function (e) { return !e.dismissed; });
      el.escPanel.hidden = escalations.length === 0;
      el.escPanel.classList.toggle('all-handled', liveEscalations.every(function (e) { return e.handled; }));

      syncList(el.discList, disclosures, buildDisclosure, function (li, d) {
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
      });
      const required = disclosures.filter(function (d) { return !d.dismissed; });
      const ticked = required.filter(function (d) { return d.ticked; }).length;
      el.discCount.textContent = ticked + '/' + required.length + ' 已说明';
      el.discPanel.hidden = disclosures.length === 0;
      el.discPanel.classList.toggle('done', ticked === required.length);

      const openEscalations = liveEscalations.filter(function (e) { return !e.handled; }).length;
      el.chipEsc.hidden = !openEscalations;
      el.chipEsc.textContent = '升级待处理 ' + openEscalations;
      el.chipDisc.hidden = ticked === required.length;
      el.chipDisc.textContent = '须告知未说明 ' + (required.length - ticked);
    }

    function setTicked(id, ticked) {
      const d = call && call.disclosures.find(function (x) { return x.id === id; });
      if (!d) return;
      d.ticked = ticked;
      d.ticked_at = ticked ? Math.floor(callSeconds()) : null;
      d.ticked_by = ticked ? 'hand' : '';
      if (!ticked) { d.handUnticked = true; d.said = null; }  // the agent's word beats the matcher's: no re-tick
      save();
      renderRules();
    }

    function tickNext() {
      const d = call && call.disclosures.find(function (x) { return !x.ticked && !x.dismissed; });
      if (d) { setTicked(d.id, true); setNotice('已勾选：' + d.title); }
    }

    el.discList.addEventListener('change', function (event) {
      if (!event.target.classList.contains('disc-check')) return;
      setTicked(event.target.closest('.disc').dataset.id, event.target.checked);
      el.query.focus();
    });

    /* ---- dismissing a prompt that does not apply ------------------------------------------------------------- */

    function ruleOf(node) {
      const item = node && node.closest('[data-id]');
      if (!item || !call) return null;
      const list = item.parentElement === el.escList ? call.escalations : call.disclosures;
      return list.find(function (x) { return x.id === item.dataset.id; }) || null;
    }

    function ruleNode(container, id) {
      return Array.from(container.children).find(function (node) { return node.dataset.id === id; }) || null;
    }

    function setDismissed(item, dismissed) {
      item.dismissed = dismissed;
      item.dismiss_reason = '';
      item.dismissed_at = dismissed ? Math.floor(callSeconds()) : null;
      save();
      renderRules();
    }

    function setDismissReason(item, reason) {
      if (!item.dismissed || item.dismiss_reason === reason) return;
      item.dismiss_reason = reason.slice(0, 200);
      save();
      renderRules();
    }

    /* Dismiss one prompt and put the cursor in its (optional) reason field: Enter or Esc goes back to typing. */
    function dismiss(item, container) {
      setDismissed(item, true);
      const node = ruleNode(container, item.id);
      if (node) node.querySelector('.dismiss-reason').focus();
      setNotice('已标记不适用：' + item.title + '。可填原因（可不填），Enter 返回输入。');
    }

    /* Alt+B: the newest open escalation, else the newest unticked disclosure. */
    function dismissNewest() {
      if (!call) return;
      const open = function (list, done) {
        return list.slice().reverse().find(function (x) { return !x.dismissed && !x[done]; });
      };
      const escalation = open(call.escalations, 'handled');
      if (escalation) { dismiss(escalation, el.escList); return; }
      const disclosure = open(call.disclosures, 'ticked');
      if (disclosure) dismiss(disclosure, el.discList);
    }

    function onRuleClick(event) {
      const button = event.target.closest('.rule-dismiss, .rule-restore, .dismiss-preset');
      const item = button && ruleOf(button);
      if (!item) return;
      if (button.classList.contains('rule-dismiss')) { dismiss(item, event.currentTarget); return; }
      if (button.classList.contains('rule-restore')) { setDismissed(item, false); setNotice('已恢复：' + item.title); }
      else setDismissReason(item, button.textContent);
      el.query.focus();
    }

    function onReasonKey(event) {
      if (!event.target.classList.contains('dismiss-reason')) return;
      if (event.key !== 'Enter' && event.key !== 'Escape') return;
      event.preventDefault();
      const item = ruleOf(event.target);
      if (item && event.key === 'Enter') setDismissReason(item, event.target.value.trim());
      el.query.focus();
    }

    function onReasonChange(event) {
      if (!event.target.classList.contains('dismiss-reason')) return;
      const item = ruleOf(event.target);
      if (item) setDismissReason(item, event.target.value.trim());
    }

    [el.escList, el.discList].forEach(function (list) {
      list.addEventListener('click', onRuleClick);
      list.addEventListener('keydown', onReasonKey);
      list.addEventListener('change', onReasonChange);
    });

    el.escList.addEventListener('click', function (event) {
      if (!event.target.classList.contains('esc-done')) return;
      const id = event.target.closest('.esc').dataset.id;
      const e = call && call.escalations.find(function (x) { return x.id === id; });
      if (!e) return;
      e.handled = !e.handled;
      save();
      renderRules();
      el.query.focus();
    });

    /* ---- the call --------------------------------------------------------------------------------------------- */

    function startCall() {
      if (call) return;
      call = { id: uid(), startedAt: Date.now(), startedIso: new Date().toISOString(), waitMs: 0, waitSince: null,
        lastLogged: '', texts: [], unchecked: [], shown: [], opened: [], feedback: [], votes: {},
        disclosures: [], escalations: [] };
      save();
      renderCall();
      renderRules();
      setNotice('通话开始计时。');
    }

    function toggleWait() {
      if (!call) return;
      if (call.waitSince) {
        call.waitMs += Math.max(0, Date.now() - call.waitSince);
        call.waitSince = null;
        setNotice('客户等待结束。');
      } else {
        call.waitSince = Date.now();
        setNotice('客户等待计时中。');
      }
      save();
      renderCall();
    }

    function requestEnd() {
      if (!call) return;
      const open = call.disclosures.filter(function (d) { return !d.ticked && !d.dismissed; });
      if (!open.length) { finishCall(false); return; }
      el.endList.replaceChildren();
      open.forEach(function (d) {
        const li = document.createElement('li');
        li.textContent = d.title;
        el.endList.appendChild(li);
      });
      el.dialog.showModal();
      el.endBack.focus();
    }

    function finishCall(confirmedUnticked) {
      if (!call) return;
      if (call.waitSince) { call.waitMs += Math.max(0, Date.now() - call.waitSince); call.waitSince = null; }
      const duration = Math.floor(callSeconds());
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
      call = null;
      el.query.value = '';
      clearAnswers();
      renderCall();
      renderRules();
      renderHistory();
      renderTranscript();
      enqueue('call', urls.calls, record);
      setNotice('通话已结束，正在保存通话记录…');
      el.query.focus();
    }

    /* A disclosure kept by an older version of this page (a call in progress across an upgrade) holds the words to
     * say in `text`; newer ones keep them in `say` and the text that raised the prompt in `text`. */
    function isOldDisclosure(item) { return item.steps === undefined && item.say === undefined; }

    /* What the call record keeps of every fired prompt. */
    function firedRecord(item) {
      return { id: item.id, title: item.title, reason: item.reason, how: item.how, fired_at: item.fired_at,
        text: !isOldDisclosure(item) && typeof item.text === 'string' ? item.text.slice(0, 2000) : '',
        dismissed: Boolean(item.dismissed), dismiss_reason: item.dismissed ? (item.dismiss_reason || '') : '',
        dismissed_at: item.dismissed ? item.dismissed_at : null };
    }

    function renderCall() {
      const active = Boolean(call), waiting = Boolean(call && call.waitSince);
      el.callState.dataset.state = active ? (waiting ? 'waiting' : 'active') : 'idle';
      el.callLabel.textContent = active ? (waiting ? '客户等待中' : '通话中') : '未在通话';
      el.callTime.textContent = active ? formatClock(callSeconds()) : '--:--';
      el.waitTime.textContent = formatClock(waitSeconds());
      el.waitBtn.disabled = !active;
      el.waitBtn.setAttribute('aria-pressed', String(waiting));
      el.callBtn.textContent = active ? '结束通话' : '开始通话';
      el.callBtn.classList.toggle('danger', active);
      el.callBtn.classList.toggle('primary', !active);
    }

    el.callBtn.addEventListener('click', function () { if (call) requestEnd(); else startCall(); el.query.focus(); });
    el.waitBtn.addEventListener('click', function () { toggleWait(); el.query.focus(); });
    el.endBack.addEventListener('click', function () { el.dialog.close(); });
    el.endAnyway.addEventListener('click', function () { el.dialog.close(); finishCall(true); });
    el.dialog.addEventListener('close', function () { el.query.focus(); });

    /* ---- live call: the transcript pushed by the server (Server-Sent Events) ---------------------------------- */

    /* The telephony integration posts the call's transcript (docs/interfaces.md); the server pushes each change to
     * the sidebar of the agent the call is bound to. A final customer utterance brings the same suggestions typing
     * would (answers, disclosures, escalations); a final agent utterance brings the rules it fires and the
     * disclosures it said, which tick themselves. EventSource reconnects by itself and sends the last event id, so
     * a dropped connection or the server's periodic end of the stream loses no line. */
    let stream = null;

    function openStream() {
      if (!urls.live || !window.EventSource) return;
      const after = call && call.liveLastId ? '?after=' + call.liveLastId : '';
      stream = new EventSource(urls.live + after);
      stream.addEventListener('utterance', function (event) { onLiveEvent(event, onUtterance); });
      stream.addEventListener('end', function (event) { onLiveEvent(event, onLiveEnd); });
      stream.addEventListener('open', function () { root.dataset.live = 'open'; });
      stream.addEventListener('error', function () { root.dataset.live = 'reconnecting'; });
    }

    function onLiveEvent(event, handle) {
      const id = Number(event.lastEventId);
      let data;
      try { data = JSON.parse(event.data); } catch (err) { return; }
      if (call && call.liveRef === data.call_ref && id <= (call.liveLastId || 0)) return;  // seen (other tab, replay)
      handle(data);
      if (call && call.liveRef === data.call_ref) { call.liveLastId = id; save(); }
    }

    function bindLiveCall(ref) {
      if (call && call.liveRef && call.liveRef !== ref) finishCall(false);  // the previous live call is over
      if (!call) startCall();
      if (!call.liveRef) {
        call.liveRef = ref;
        call.transcript = [];
        save();
      }
    }

    function onUtterance(data) {
      const u = data.utterance;
      if (!u) return;
      bindLiveCall(data.call_ref);
      const key = u.speaker + ':' + u.offset_ms;
      const line = { key: key, speaker: u.speaker, text: u.text, offset_ms: u.offset_ms, final: u.final };
      const index = call.transcript.findIndex(function (x) { return x.key === key; });
      if (index >= 0) { if (!call.transcript[index].final) call.transcript[index] = line; }
      else call.transcript.push(line);
      call.transcript.sort(function (a, b) { return a.offset_ms - b.offset_ms || (a.speaker < b.speaker ? -1 : 1); });
      save();
      renderTranscript();
      if (!u.final) return;
      const result = data.suggestions;
      if (result) {
        if (u.speaker === 'customer') {
          keepShown(u.text, result.answers || []);
          if (Date.now() - lastKeyAt > 5000) {  // the agent is not typing: show what the customer's words bring
            shownSeq = ++seq;
            showAnswers(u.text, result.answers || []);
          }
        }
        mergeRules(result, u.text, true);
      }
      // the server matched the agent's words against the disclosures required so far (and any they fired)
      (data.said || []).forEach(function (match) {
        const said = { text: u.text, part: match.text, score: match.score, offset_ms: u.offset_ms };
        const d = call.disclosures.find(function (x) { return x.id === match.rule_id; });
        if (d) tickSaid(d, said);
      });
      save();
      renderRules();
    }

    /* The agent's own words said this disclosure: tick it, keeping which utterance did and with what score. */
    function tickSaid(d, said) {
      if (d.ticked || d.dismissed || d.handUnticked) return;
      d.ticked = true;
      d.ticked_at = Math.floor(said.offset_ms / 1000);
      d.ticked_by = 'speech';
      d.said = said;
      setNotice('已自动勾选：' + d.title);
    }

    function onLiveEnd(data) {
      if (!call || call.liveRef !== data.call_ref) return;
      call.liveEnded = true;
      save();
      setNotice('通话已挂断，请确认须告知事项后结束通话。');
      requestEnd();
    }

    function renderTranscript() {
      const lines = call && call.transcript ? call.transcript : [];
      el.livePanel.hidden = !(call && call.liveRef);
      el.liveRef.textContent = call && call.liveRef ? call.liveRef : '';
      el.liveList.replaceChildren();
      lines.forEach(function (line) {
        const li = document.createElement('li');
        li.className = 'live-line ' + line.speaker + (line.final ? '' : ' partial');
        li.dataset.speaker = line.speaker;
        li.dataset.offset = String(line.offset_ms);
        const who = document.createElement('span');
        who.className = 'who';
        who.textContent = line.speaker === 'customer' ? '客户' : '坐席';
        const text = document.createElement('span');
        text.className = 'text';
        text.textContent = line.text;
        const at = document.createElement('span');
        at.className = 'at';
        at.textContent = formatClock(line.offset_ms / 1000);
        li.append(who, text, at);
        el.liveList.appendChild(li);
      });
      el.liveList.scrollTop = el.liveList.scrollHeight;
    }

    /* ---- uploads (call records, feedback): kept until the server accepts them --------------------------------- */

    function enqueue(kind, url, body) {
      outbox.push({ id: uid(), kind: kind, url: url, body: body });
      save();
      flushOutbox();
    }

    // By id, not position: another tab of the same agent may have sent and dropped uploads meanwhile.
    function dropUpload(item) {
      outbox = outbox.filter(function (other) { return other.id !== item.id; });
      save();
    }

    function flushOutbox() {
      if (flushing || !outbox.length) return;
      flushing = true;
      const item = outbox[0];
      post(item.url, item.body).then(function (data) {
        dropUpload(item);
        flushing = false;
        if (item.kind === 'call') {
          root.dataset.savedCall = String(data.id);
          setNotice('通话记录已保存（编号 ' + data.id + '）。');
        }
        connectionOk();
        flushOutbox();
      }, function (err) {
        flushing = false;
        const kind = failureKind(err);
        if (kind === 'bad') {  // refused as sent: retrying cannot help, say so instead of looping
          dropUpload(item);
          setNotice((item.kind === 'call' ? '通话记录' : '反馈') + '未能保存：' + err.message, true);
          flushOutbox();
        } else {
          connectionLost(kind);
        }
      });
    }

    /* ---- messages --------------------------------------------------------------------------------------------- */

    function setNotice(text, isError) {
      el.notice.textContent = text;
      el.notice.classList.toggle('error', Boolean(isError));
    }

    /* ---- keyboard --------------------------------------------------------------------------------------------- */

    function isEditable(node) {
      return node && (node.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName));
    }

    const altKeys = {
      KeyS: startCall,
      KeyX: requestEnd,
      KeyW: toggleWait,
      KeyK: tickNext,
      KeyB: dismissNewest,
      KeyC: function () { copyAnswer(view.selected); },
      KeyO: function () { openArticle(view.selected); },
      KeyY: function () { vote(view.selected, true); },
      KeyN: function () { vote(view.selected, false); },
    };

    document.addEventListener('keydown', function (event) {
      if (event.isComposing || event.keyCode === 229 || el.dialog.open) return;  // IME, or the dialog's own keys
      if (event.altKey && !event.ctrlKey && !event.metaKey) {
        const action = altKeys[event.code];
        if (action) { event.preventDefault(); action(); }
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (document.activeElement !== el.query) {
        if (event.key === '/' && !isEditable(document.activeElement)) { event.preventDefault(); el.query.focus(); }
        return;
      }
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        move(event.key === 'ArrowDown' ? 1 : -1);
      } else if (event.key === 'Enter') {
        event.preventDefault();
        const text = el.query.value.trim();
        if (text && text !== view.query) requestAnswers(true);
        else if (view.selected >= 0) toggleExpand(view.selected);
      } else if (event.key === 'Escape') {
        event.preventDefault();
        if (view.expanded.size) {
          const open = Array.from(view.expanded);
          view.expanded.clear();
          open.forEach(renderAnswerState);
        } else if (el.query.value) {
          el.query.value = '';
          clearAnswers();
        }
      }
    });

    el.query.addEventListener('input', function (event) { if (!event.isComposing) onType(); });
    el.query.addEventListener('compositionend', onType);
    window.addEventListener('online', retryNow);

    /* ---- start ------------------------------------------------------------------------------------------------ */

    load();
    renderCall();
    renderRules();
    renderHistory();
    renderAnswers();
    renderTranscript();
    openStream();
    setInterval(function () { if (call) renderCall(); }, 1000);
    setInterval(function () { if (call && !retryTimer) poll(false); }, POLL_MS);
    if (call) { poll(false); recheck(); }
    flushOutbox();
    el.query.focus();
  }
}());

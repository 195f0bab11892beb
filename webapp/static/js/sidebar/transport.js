/* Talking to the server: JSON POSTs with the CSRF header, a timeout per request, what a failure means, and the
 * connection banner with its retry back-off. What to retry and what to resend once the server answers again are
 * other modules' business: they are reached through ctx.hooks.retry and ctx.hooks.reconnected (set in main.js). */

const TIMEOUT_MS = 10000;    // a request that takes longer counts as a lost connection
const RETRY_MAX_MS = 15000;  // back-off ceiling while the server is unreachable

export function post(ctx, url, body, signal) {
  return fetch(url, {
    method: 'POST', credentials: 'same-origin', signal: signal, body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': ctx.csrf },
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
export function timedRequest(ctx, url, body) {
  const controller = new AbortController();
  const timer = setTimeout(function () { controller.timedOut = true; controller.abort(); }, TIMEOUT_MS);
  controller.promise = post(ctx, url, body, controller.signal).finally(function () { clearTimeout(timer); });
  return controller;
}

/* 'down' (no answer, 5xx, 429: retry), 'auth' (logged out), 'stale' (CSRF token changed) or 'bad' (this request
 * will never succeed as sent). */
export function failureKind(err) {
  if (err.status === 401) return 'auth';
  if (err.status === 400 && /CSRF/i.test(err.message)) return 'stale';
  if (!err.status || err.status >= 500 || err.status === 429 || err.status === 408) return 'down';
  return 'bad';
}

export function connectionLost(ctx, kind) {
  if (kind === 'auth') {
    showBanner(ctx, '登录已过期，请重新登录。通话记录已暂存，不会丢失。', '重新登录', ctx.urls.login);
  } else if (kind === 'stale') {
    showBanner(ctx, '页面已过期，请刷新页面。通话记录已暂存，不会丢失。', '刷新', window.location.pathname);
  } else {
    ctx.net.failures += 1;
    showBanner(ctx, '连接中断，正在重试…');
    scheduleRetry(ctx);
  }
  ctx.el.answers.classList.add('stale');
}

export function connectionOk(ctx) {
  const net = ctx.net, el = ctx.el;
  if (!net.failures && el.banner.hidden) return;
  net.failures = 0;
  clearTimeout(net.retryTimer);
  net.retryTimer = null;
  el.banner.hidden = true;
  el.answers.classList.remove('stale');
  ctx.hooks.reconnected();
}

function showBanner(ctx, text, linkText, href) {
  const el = ctx.el;
  el.bannerText.textContent = text;
  el.bannerLink.hidden = !linkText;
  if (linkText) { el.bannerLink.textContent = linkText; el.bannerLink.href = href; }
  el.banner.hidden = false;
}

function scheduleRetry(ctx) {
  const net = ctx.net;
  if (net.retryTimer) return;
  const delay = Math.min(1000 * Math.pow(2, Math.min(net.failures - 1, 5)), RETRY_MAX_MS);
  net.retryTimer = setTimeout(function () { net.retryTimer = null; ctx.hooks.retry(); }, delay);
}

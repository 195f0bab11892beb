/* Small DOM helpers the sidebar modules share: the page's elements looked up once, the notice line, and text-only
 * elements. Nothing here inserts HTML: strings from the server or the agent reach the page through textContent. */

function byId(id) { return document.getElementById(id); }

/* Every element the sidebar uses, by its id in templates/agent/sidebar.html. */
export function sidebarElements() {
  return {
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
}

/* A new element holding `text` as text (never as HTML), with an optional class. */
export function textElement(tag, text, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

/* ---- messages --------------------------------------------------------------------------------------------- */

export function setNotice(ctx, text, isError) {
  ctx.el.notice.textContent = text;
  ctx.el.notice.classList.toggle('error', Boolean(isError));
}

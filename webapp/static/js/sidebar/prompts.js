/* What disclosures and escalations (the prompts fired during a call) have in common: how a list of them is kept in
 * step with the call, how a dismissed one looks, and what the call record keeps of each. */

/* A disclosure kept by an older version of this page (a call in progress across an upgrade) holds the words to
 * say in `text`; newer ones keep them in `say` and the text that raised the prompt in `text`. */
export function isOldDisclosure(item) { return item.steps === undefined && item.say === undefined; }

/* What the call record keeps of every fired prompt. */
export function firedRecord(item) {
  return { id: item.id, title: item.title, reason: item.reason, how: item.how, fired_at: item.fired_at,
    text: !isOldDisclosure(item) && typeof item.text === 'string' ? item.text.slice(0, 2000) : '',
    dismissed: Boolean(item.dismissed), dismiss_reason: item.dismissed ? (item.dismiss_reason || '') : '',
    dismissed_at: item.dismissed ? item.dismissed_at : null };
}

/* Keep `container`'s children in step with `items` (keyed by id): new items are built once (and flash),
 * existing ones only have their state updated, so a tick never replaces the element under the pointer. */
export function syncList(container, items, build, update) {
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

/* A dismissed prompt stays listed, collapsed, with its optional reason and a way back. */
export function renderDismissal(node, item) {
  node.classList.toggle('dismissed', item.dismissed);
  node.querySelector('.rule-dismiss').hidden = item.dismissed;
  node.querySelector('.dismissed-box').hidden = !item.dismissed;
  const reason = node.querySelector('.dismiss-reason');
  if (document.activeElement !== reason) reason.value = item.dismiss_reason || '';
}

/* The sidebar's keyboard: Alt shortcuts anywhere on the page, ↑/↓/Enter/Esc in the input, and / to get back to it.
 * IME composition is left alone (Chinese input), and so are the end-of-call dialog's own keys. */
import { clearAnswers, copyAnswer, move, openArticle, renderAnswerState, toggleExpand, vote } from './answers.js';
import { requestEnd, startCall, toggleWait } from './call.js';
import { dismissNewest, tickNext } from './rules.js';
import { requestAnswers } from './suggest.js';

function isEditable(node) {
  return node && (node.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName));
}

export function initKeyboard(ctx) {
  const el = ctx.el, view = ctx.view;
  const altKeys = {
    KeyS: function () { startCall(ctx); },
    KeyX: function () { requestEnd(ctx); },
    KeyW: function () { toggleWait(ctx); },
    KeyK: function () { tickNext(ctx); },
    KeyB: function () { dismissNewest(ctx); },
    KeyC: function () { copyAnswer(ctx, view.selected); },
    KeyO: function () { openArticle(ctx, view.selected); },
    KeyY: function () { vote(ctx, view.selected, true); },
    KeyN: function () { vote(ctx, view.selected, false); },
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
      move(ctx, event.key === 'ArrowDown' ? 1 : -1);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      const text = el.query.value.trim();
      if (text && text !== view.query) requestAnswers(ctx, true);
      else if (view.selected >= 0) toggleExpand(ctx, view.selected);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      if (view.expanded.size) {
        const open = Array.from(view.expanded);
        view.expanded.clear();
        open.forEach(function (index) { renderAnswerState(ctx, index); });
      } else if (el.query.value) {
        el.query.value = '';
        clearAnswers(ctx);
      }
    }
  });
}

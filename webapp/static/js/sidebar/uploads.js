/* Uploads (call records, feedback): queued in the persisted outbox and kept until the server accepts them, sent one
 * at a time, retried after an outage (transport.js calls ctx.hooks.reconnected, which flushes again). */
import { save, uid } from './callstore.js';
import { setNotice } from './dom.js';
import { connectionLost, connectionOk, failureKind, post } from './transport.js';

export function enqueue(ctx, kind, url, body) {
  ctx.store.outbox.push({ id: uid(), kind: kind, url: url, body: body });
  save(ctx);
  flushOutbox(ctx);
}

// By id, not position: another tab of the same agent may have sent and dropped uploads meanwhile.
function dropUpload(ctx, item) {
  ctx.store.outbox = ctx.store.outbox.filter(function (other) { return other.id !== item.id; });
  save(ctx);
}

export function flushOutbox(ctx) {
  if (ctx.net.flushing || !ctx.store.outbox.length) return;
  ctx.net.flushing = true;
  const item = ctx.store.outbox[0];
  post(ctx, item.url, item.body).then(function (data) {
    dropUpload(ctx, item);
    ctx.net.flushing = false;
    if (item.kind === 'call') {
      ctx.root.dataset.savedCall = String(data.id);
      setNotice(ctx, '通话记录已保存（编号 ' + data.id + '）。');
    }
    connectionOk(ctx);
    flushOutbox(ctx);
  }, function (err) {
    ctx.net.flushing = false;
    const kind = failureKind(err);
    if (kind === 'bad') {  // refused as sent: retrying cannot help, say so instead of looping
      dropUpload(ctx, item);
      setNotice(ctx, (item.kind === 'call' ? '通话记录' : '反馈') + '未能保存：' + err.message, true);
      flushOutbox(ctx);
    } else {
      connectionLost(ctx, kind);
    }
  });
}

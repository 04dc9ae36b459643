// The live feed, never stale: EventSource resumes by itself with Last-Event-ID after
// a dropped connection; when it gives up (an error answer, a gateway that was down
// too long), a new one resumes with ?after= from the last id seen. The gateway
// replays what was missed from its event log, or says `reload`.

export function follow({ onEvent, onPresence, onReload, onState, onSignedOut }) {
  let lastId = null;
  let source = null;
  let retry = null;
  let stopped = false;

  const events = ['ticket.created', 'ticket.updated', 'message.created', 'message.updated'];

  function open() {
    if (stopped) return;
    onState('connecting');
    source = new EventSource('/api/v1/events' + (lastId === null ? '' : '?after=' + encodeURIComponent(lastId)));
    source.addEventListener('open', () => onState('live'));
    source.addEventListener('ready', (e) => { lastId = e.lastEventId; onState('live'); });
    source.addEventListener('reload', (e) => { lastId = e.lastEventId; onReload(); });
    // Presence has no id: it moves nothing forward and is never replayed.
    source.addEventListener('presence', (e) => onPresence(JSON.parse(e.data)));
    for (const name of events) {
      source.addEventListener(name, (e) => {
        lastId = e.lastEventId;
        onEvent(JSON.parse(e.data));
      });
    }
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        onState('offline');
        clearTimeout(retry);
        retry = setTimeout(reopen, 2000);
      } else {
        onState('connecting');
      }
    });
  }

  async function reopen() {
    // A feed refused for want of a session is a sign-out, not an outage.
    const check = await fetch('/api/v1/session', { credentials: 'same-origin' }).catch(() => null);
    if (check && check.status === 401) {
      stop();
      onSignedOut();
      return;
    }
    open();
  }

  function stop() {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
  }

  open();
  return { stop, lastId: () => lastId };
}

// Time on the dashboard: the moments it may show ("as of" a day or a time),
// in the server's time zone, and what a 410 history_gone tells of the
// retained history.
//
// The server reads a date (2026-11-26) as the end of that day in its own time
// zone (serve --tz, Asia/Shanghai by default). So that a day and a time picked
// here mean the same to the server, the dashboard works in the server's UTC
// offset, which it learns from the times the history endpoint writes (they
// carry it, e.g. 2026-11-27T08:00:00+08:00); until then it assumes the
// browser's own.

const DAY_MS = 86_400_000;

// minutes east of UTC of the server's time zone (the browser's until learnt)
let offsetMin = -new Date().getTimezoneOffset();

// learnOffset takes the UTC offset of an RFC 3339 time the server wrote.
export function learnOffset(rfc3339) {
  const m = /([+-])(\d\d):(\d\d)$/.exec(rfc3339 || '');
  if (m) offsetMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  else if (/Z$/.test(rfc3339 || '')) offsetMin = 0;
}

export const serverOffsetMin = () => offsetMin;

// offsetString is the server's offset as RFC 3339 writes it: +08:00.
function offsetString() {
  const a = Math.abs(offsetMin);
  return `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

// wallClock returns a Date whose UTC fields are the server's wall clock at ms.
const wallClock = (ms) => new Date(ms + offsetMin * 60_000);

// dayOf is the server's calendar day at ms, as YYYY-MM-DD.
export const dayOf = (ms) => wallClock(ms).toISOString().slice(0, 10);

// timeOf is the server's wall-clock time at ms, as HH:MM:SS.
export const timeOf = (ms) => wallClock(ms).toISOString().slice(11, 19);

// today is the server's calendar day now.
export const today = () => dayOf(Date.now());

// addDays moves a YYYY-MM-DD date by n days.
export function addDays(date, n) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

// moment is what the time control chose: a day (its end) or a day and a
// time, in the server's time zone.
//   param: the as_of value the server reads (2026-11-26 or an RFC 3339 time)
//   date:  the day, YYYY-MM-DD; time: HH:MM:SS or ''
//   ms:    the instant, in Unix milliseconds
export function moment(date, time) {
  if (!/^\d{4}-\d\d-\d\d$/.test(date || '')) return null;
  if (!time) {
    return { param: date, date, time: '', ms: Date.parse(`${date}T00:00:00Z`) + DAY_MS - 1 - offsetMin * 60_000 };
  }
  const hms = time.length === 5 ? `${time}:00` : time; // <input type=time> leaves out :00 seconds
  const param = `${date}T${hms}${offsetString()}`;
  const ms = Date.parse(param);
  return Number.isNaN(ms) ? null : { param, date, time: hms, ms };
}

// momentOfParam reads back an as_of a moment was given as (the address keeps
// it): a date, or an RFC 3339 time, whose day and time are the server's.
// Anything else (a version number, which Date.parse would take for a year)
// is no moment: the dashboard starts live.
export function momentOfParam(param) {
  if (!param) return null;
  if (/^\d{4}-\d\d-\d\d$/.test(param)) return moment(param, '');
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(param)) return null;
  const ms = Date.parse(param);
  if (Number.isNaN(ms)) return null;
  learnOffset(param);
  return { param, date: dayOf(ms), time: timeOf(ms), ms };
}

// historyGone reads a 410 history_gone error of api(): the oldest version
// the server keeps and, when the answer tells it, that state's time (Unix ms).
// The time is taken from oldest_time when the answer has it, else from the
// message ("… which starts at 2026-11-27T09:24:25.874Z …").
export function historyGone(err) {
  const e = err && err.body && err.body.error;
  if (!e || e.code !== 'history_gone') return null;
  let ms = e.oldest_time ? Date.parse(e.oldest_time) : NaN;
  if (Number.isNaN(ms)) {
    const m = /which starts at (\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))/.exec(e.message || '');
    if (m) ms = Date.parse(m[1]);
  }
  return { oldest: e.oldest, ms: Number.isNaN(ms) ? null : ms };
}

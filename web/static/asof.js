// Time on the dashboard: the moments it may show ("as of" a version, a day or
// a time), in the server's time zone, and what a 410 history_gone tells of
// the retained history.
//
// The server reads a date (2026-11-26) as the end of that day in its own time
// zone (serve --tz, Asia/Shanghai by default). So that a day and a time picked
// here mean the same to the server, and every day and time shown is one the
// server would name, the dashboard works in the server's time zone, never the
// browser's: /api/v1/info names it (tz, an IANA name, given to setZone), and
// the offset of each instant comes from the browser's time-zone data. A zone
// the browser does not know (or none yet) falls back to the UTC offset of
// the times the server writes (they carry it, e.g.
// 2026-11-27T08:00:00+08:00), learnt by learnOffset.

const DAY_MS = 86_400_000;

// the server's time zone: its name and a formatter of wall clocks there, or
// null while not known (or not known to this browser)
let zoneName = '';
let zoneFmt = null;
// minutes east of UTC, when the zone is not known: the offset of the last
// time the server wrote (the browser's until then)
let fixedMin = -new Date().getTimezoneOffset();

// setZone takes the server's time zone (info's tz); false when this browser
// does not know it (learnOffset's offsets are used instead).
export function setZone(name) {
  try {
    zoneFmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name, hourCycle: 'h23',
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    zoneName = name;
    return true;
  } catch {
    zoneFmt = null;
    zoneName = '';
    return false;
  }
}

// learnOffset takes the UTC offset of an RFC 3339 time the server wrote:
// the offset used while the zone's name is not known.
export function learnOffset(rfc3339) {
  const m = /([+-])(\d\d):(\d\d)$/.exec(rfc3339 || '');
  if (m) fixedMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  else if (/Z$/.test(rfc3339 || '')) fixedMin = 0;
}

// offsetAt is the server's UTC offset, in minutes east, at instant ms.
export function offsetAt(ms) {
  if (!zoneFmt) return fixedMin;
  const p = {};
  for (const { type, value } of zoneFmt.formatToParts(new Date(ms))) p[type] = Number(value);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
  return Math.round((wall - (ms - (((ms % 1000) + 1000) % 1000))) / 60_000);
}

// offsetString is an offset as RFC 3339 writes it: +08:00.
function offsetString(min) {
  const a = Math.abs(min);
  return `${min < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

// zoneOffset is the server's UTC offset now, for a reader: UTC+08:00.
export const zoneOffset = () => `UTC${offsetString(offsetAt(Date.now()))}`;

// zoneLabel names the server's time zone for a reader: its name and offset
// now (Asia/Shanghai UTC+08:00), or the offset alone.
export const zoneLabel = () => `${zoneName ? `${zoneName} ` : ''}${zoneOffset()}`;

// sameZoneAsBrowser says whether the browser's clock reads as the server's.
export function sameZoneAsBrowser() {
  const now = Date.now();
  return offsetAt(now) === -new Date(now).getTimezoneOffset()
    && offsetAt(now + 182 * DAY_MS) === -new Date(now + 182 * DAY_MS).getTimezoneOffset();
}

// wallClock returns a Date whose UTC fields are the server's wall clock at ms.
const wallClock = (ms) => new Date(ms + offsetAt(ms) * 60_000);

// wallDate returns a Date whose local fields are the server's wall clock at
// ms (for a chart that reads local fields).
export function wallDate(ms) {
  const w = wallClock(ms);
  return new Date(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate(), w.getUTCHours(), w.getUTCMinutes(), w.getUTCSeconds(), w.getUTCMilliseconds());
}

// instantOf is the instant at which the server's wall clock reads wall (Unix
// ms of those fields as if in UTC).
function instantOf(wall) {
  const guess = wall - offsetAt(wall) * 60_000;
  return wall - offsetAt(guess) * 60_000;
}

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
  const midnight = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(midnight)) return null;
  if (!time) return { param: date, date, time: '', ms: instantOf(midnight + DAY_MS) - 1 };
  const hms = time.length === 5 ? `${time}:00` : time; // <input type=time> leaves out :00 seconds
  const wall = Date.parse(`${date}T${hms}Z`);
  if (Number.isNaN(wall)) return null;
  const ms = instantOf(wall);
  return { param: `${date}T${hms}${offsetString(offsetAt(ms))}`, date, time: hms, ms };
}

// momentOfParam reads back an as_of a moment was given as (the address keeps
// it): a date, or an RFC 3339 time, whose day and time are the server's
// (whatever offset the time was written with); or a version, whose moment
// the server tells (see versionMoment), marked {param, version}. Anything
// else is no moment: the dashboard starts live.
export function momentOfParam(param) {
  if (!param) return null;
  if (/^\d+$/.test(param)) return { param, version: Number(param) };
  if (/^\d{4}-\d\d-\d\d$/.test(param)) return moment(param, '');
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(param)) return null;
  const ms = Date.parse(param);
  if (Number.isNaN(ms)) return null;
  return { param, date: dayOf(ms), time: timeOf(ms), ms };
}

// versionMoment is the moment of an as_of version param, once the server
// said when the state of that version began (time, RFC 3339).
export function versionMoment(param, time) {
  const ms = Date.parse(time || '');
  if (Number.isNaN(ms)) return null;
  return { param, date: dayOf(ms), time: timeOf(ms), ms, byVersion: true };
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

// Downloads and prints for the dashboard: CSV and XLSX buttons above the
// summary table (the units it shows, as the server exports them, with the
// filter and the moment shown) and print buttons that open the printable
// room-state map (SVG, A3 pages) of the building in the panel, or of the
// grid or community the summary shows.
//
// It reads the dashboard's state (window.__roomstateState: crumbs, where,
// scheme, lang, asOf) and adds its own buttons; it changes nothing else.
// Files are fetched with the session's token and handed to the browser as
// blobs, so the token never goes into an address.

const WORDS = {
  zh: { csv: '下载 CSV', xlsx: '下载 Excel', print: '打印房态图', printUnit: '打印本级房态图', failed: '下载失败' },
  en: { csv: 'CSV', xlsx: 'Excel', print: 'Print map', printUnit: 'Print this unit', failed: 'Download failed' },
};

const dash = () => window.__roomstateState || {};
const words = () => WORDS[dash().lang === 'en' ? 'en' : 'zh'];
const token = () => sessionStorage.getItem('roomstate.token') || '';

// the query every export and print takes: filter, scheme, moment, language
function query(extra) {
  const s = dash();
  const q = new URLSearchParams(extra);
  if (s.where) q.set('where', s.where);
  if (s.asOf && s.asOf.version !== undefined) q.set('as_of', s.asOf.version);
  if (s.lang === 'en') q.set('lang', 'en');
  return q;
}

// the summary's units: the districts, or the children of the unit shown
function summaryPath() {
  const crumbs = dash().crumbs || [{ level: null }];
  const here = crumbs[crumbs.length - 1];
  return here.level ? `/api/v1/units/${here.level}/${encodeURIComponent(here.id)}` : '/api/v1/units/district';
}

async function fetchBlob(url) {
  const r = await fetch(url, { headers: token() ? { Authorization: `Bearer ${token()}` } : {} });
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    throw new Error((body && body.error && body.error.message) || r.statusText);
  }
  return { blob: await r.blob(), disposition: r.headers.get('Content-Disposition') || '' };
}

// fileName reads the name a Content-Disposition gives (filename* first).
function fileName(cd, fallback) {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  if (star) {
    try { return decodeURIComponent(star[1]); } catch { /* the plain one */ }
  }
  const plain = /filename="([^"]+)"/i.exec(cd);
  return plain ? plain[1] : fallback;
}

function notice(msg) {
  const n = document.querySelector('#notice');
  if (!n) return;
  n.textContent = msg;
  n.hidden = false;
  setTimeout(() => { n.hidden = true; }, 5000);
}

async function download(format) {
  const url = `${summaryPath()}?${query({ format })}`;
  try {
    const { blob, disposition } = await fetchBlob(url);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = fileName(disposition, `roomstate.${format}`);
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  } catch (err) {
    notice(`${words().failed}: ${err.message}`);
  }
}

// openSheet opens a printable SVG in a new tab: the tab is opened at once
// (a popup blocker allows that during the click), then shown the sheet.
async function openSheet(path) {
  const s = dash();
  const q = query({});
  q.delete('where'); // a map shows every dwelling
  if (s.scheme && s.scheme !== 'default') q.set('scheme', s.scheme);
  const w = window.open('', '_blank');
  try {
    const { blob } = await fetchBlob(`${path}?${q}`);
    const url = URL.createObjectURL(blob);
    if (w) w.location.href = url;
    else window.location.href = url;
  } catch (err) {
    if (w) w.close();
    notice(`${words().failed}: ${err.message}`);
  }
}

function button(id, onclick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.id = id;
  b.className = 'export';
  b.onclick = onclick;
  return b;
}

function label() {
  const w = words();
  for (const [id, k] of [['export-csv', 'csv'], ['export-xlsx', 'xlsx'], ['print-building', 'print'], ['print-unit', 'printUnit']]) {
    const b = document.getElementById(id);
    if (b) b.textContent = w[k];
  }
  // a grid's or community's map can be printed; a district's is too large
  const crumbs = dash().crumbs || [];
  const here = crumbs[crumbs.length - 1] || {};
  const pu = document.getElementById('print-unit');
  // room-by-room prints are an analyst's: a viewer is not offered one
  const viewer = (dash().info || {}).role === 'viewer';
  if (pu) pu.hidden = viewer || !(here.level === 'grid' || here.level === 'community');
}

const STYLE = `.export-bar { display: flex; gap: .4rem; flex-wrap: wrap; margin: .5rem 0; }
.export-bar button, #print-building { font-size: .8rem; padding: .2rem .6rem; }
#print-building { margin-right: .5rem; }`;

function install() {
  const style = document.createElement('style');
  style.textContent = STYLE;
  document.head.appendChild(style);
  const table = document.querySelector('#summary');
  if (table && !document.getElementById('export-csv')) {
    const bar = document.createElement('div');
    bar.className = 'export-bar';
    bar.append(button('export-csv', () => download('csv')), button('export-xlsx', () => download('xlsx')),
      button('print-unit', () => {
        const crumbs = dash().crumbs || [];
        const here = crumbs[crumbs.length - 1];
        if (here && here.level) openSheet(`/api/v1/units/${here.level}/${encodeURIComponent(here.id)}/roomstate.svg`);
      }));
    table.before(bar); // above a long table, where it is seen
  }
  const close = document.querySelector('#building-close');
  if (close && !document.getElementById('print-building')) {
    close.before(button('print-building', () => {
      const id = dash().building;
      if (id) openSheet(`/api/v1/buildings/${encodeURIComponent(id)}/roomstate.svg`);
    }));
  }
  label();
  // the language switch and the drill-down relabel and show the buttons
  new MutationObserver(label).observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });
  const crumbs = document.querySelector('#crumbs');
  if (crumbs) new MutationObserver(label).observe(crumbs, { childList: true });
}

install();

// The roomstate dashboard: the live room-state map of a city on MapLibre,
// a legend with live counts per state, a summary by level with drill-down,
// a flag-expression filter, and the room-state map of a clicked building.
// Served by roomstate itself; MapLibre comes from web/node_modules (no CDN).
import * as maplibregl from '/assets/maplibre/maplibre-gl.mjs';

const I18N = {
  zh: {
    title: '房态图', filter: '筛选', apply: '应用', clear: '清除', scheme: '图例方案', live: '实时',
    legend: '图例', summary: '分级汇总', unit: '单位', total: '户数', matched: '符合',
    wherePlaceholder: '标记表达式，例如 isolated & !vaccinated',
    all: '全市', district: '区', street: '街道', community: '社区', grid: '网格', building: '楼栋',
    floor: '层', rooms: '户', dwellings: '户', of: '/', suppressed: '（小数已隐藏）',
    noRoomState: '无权查看分户房态图', noAssets: '',
    metaLine: (b) => `${b.district} · ${b.street} · ${b.community} · ${b.grid} · 共 ${b.total} 户`,
    totals: (t, m) => `共 ${fmt(t)} 户，符合条件 ${fmt(m)} 户`,
    flags: { isolated: '居家隔离', vaccinated: '已接种', rental: '出租', elderly_alone: '独居老人' },
    unknownFloor: '未知',
  },
  en: {
    title: 'Room-state map', filter: 'Filter', apply: 'Apply', clear: 'Clear', scheme: 'Scheme', live: 'Live',
    legend: 'Legend', summary: 'Summary by level', unit: 'Unit', total: 'Dwellings', matched: 'Matched',
    wherePlaceholder: 'flag expression, e.g. isolated & !vaccinated',
    all: 'City', district: 'District', street: 'Street', community: 'Community', grid: 'Grid', building: 'Building',
    floor: 'F', rooms: 'rooms', dwellings: 'dwellings', of: '/', suppressed: '(small counts hidden)',
    noRoomState: 'Your role may not see room-by-room maps',
    metaLine: (b) => `${b.district} · ${b.street} · ${b.community} · ${b.grid} · ${b.total} dwellings`,
    totals: (t, m) => `${fmt(t)} dwellings, ${fmt(m)} matching`,
    flags: { isolated: 'home isolation', vaccinated: 'vaccinated', rental: 'rental', elderly_alone: 'elderly living alone' },
    unknownFloor: '?',
  },
};

const params = new URLSearchParams(location.search);
// an access token, given once as ?token=…, is kept for the session and
// taken out of the address bar
const token = params.get('token') || sessionStorage.getItem('roomstate.token') || '';
if (params.get('token')) {
  sessionStorage.setItem('roomstate.token', token);
  params.delete('token');
  history.replaceState(null, '', `${location.pathname}${params.toString() ? `?${params}` : ''}`);
}
const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});
const state = {
  lang: params.get('lang') || localStorage.getItem('roomstate.lang') || 'zh',
  where: params.get('where') || '',
  scheme: params.get('scheme') || 'default',
  info: null,
  legend: [],
  crumbs: [{ level: null, id: null }], // drill-down path; null: the whole city
  building: null,
  lastVersion: 0,
};
const t = (k) => I18N[state.lang][k] ?? I18N.zh[k] ?? k;
const fmt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-US'));
const $ = (sel) => document.querySelector(sel);

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...(opts.headers || {}), ...authHeaders() } });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = new Error((body && body.error && body.error.message) || r.statusText);
    err.status = r.status;
    throw err;
  }
  return body;
}

function applyI18n() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $('#lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
  document.title = `${t('title')} · roomstate`;
}

// shapes of the scheme, as small SVGs
function shapeSVG(shape, color, size = 14) {
  const c = size / 2;
  const s = size;
  const paths = {
    circle: `<circle cx="${c}" cy="${c}" r="${c - 1}"/>`,
    square: `<rect x="1" y="1" width="${s - 2}" height="${s - 2}"/>`,
    triangle: `<polygon points="${c},1 ${s - 1},${s - 1} 1,${s - 1}"/>`,
    diamond: `<polygon points="${c},1 ${s - 1},${c} ${c},${s - 1} 1,${c}"/>`,
    star: `<polygon points="${c},1 ${c * 1.25},${c * 0.8} ${s - 1},${c * 0.8} ${c * 1.35},${c * 1.25} ${c * 1.55},${s - 1} ${c},${c * 1.5} ${c * 0.45},${s - 1} ${c * 0.65},${c * 1.25} 1,${c * 0.8} ${c * 0.75},${c * 0.8}"/>`,
    cross: `<polygon points="${c * 0.7},1 ${c * 1.3},1 ${c * 1.3},${c * 0.7} ${s - 1},${c * 0.7} ${s - 1},${c * 1.3} ${c * 1.3},${c * 1.3} ${c * 1.3},${s - 1} ${c * 0.7},${s - 1} ${c * 0.7},${c * 1.3} 1,${c * 1.3} 1,${c * 0.7} ${c * 0.7},${c * 0.7}"/>`,
  };
  return `<svg class="shape" viewBox="0 0 ${s} ${s}" width="${s}" height="${s}" fill="${color}">${paths[shape] || paths.circle}</svg>`;
}

const label = (entry) => (state.lang === 'en' && entry.label_en ? entry.label_en : entry.label);
const flagLabel = (f) => (I18N[state.lang].flags[f] || f);

// --- the map ---------------------------------------------------------------

function tileJSONURL() {
  const q = new URLSearchParams();
  if (state.where) q.set('where', state.where);
  if (state.scheme !== 'default') q.set('scheme', state.scheme);
  const s = q.toString();
  return `${location.origin}/tiles.json${s ? `?${s}` : ''}`;
}

// cells: without a filter, sized and shaded by dwellings; with one, coloured
// by the share of dwellings that match it
function cellColor() {
  if (!state.where) return ['interpolate', ['linear'], ['sqrt', ['to-number', ['get', 'total'], 0]], 0, '#2a5d8f', 60, '#4fa3ff', 200, '#b6dcff'];
  return ['interpolate', ['linear'],
    ['/', ['to-number', ['get', 'matched'], 0], ['max', ['to-number', ['get', 'total'], 1], 1]],
    0, '#3a4a5a', 0.005, '#fdae61', 0.05, '#f46d43', 0.2, '#d7191c'];
}

function buildStyle(info) {
  const sources = { rs: { type: 'vector', url: tileJSONURL(), promoteId: undefined } };
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#0b1117' } }];
  if (info.basemap) {
    sources.basemap = { type: 'raster', tiles: [info.basemap], tileSize: 256 };
    layers.push({ id: 'basemap', type: 'raster', source: 'basemap', paint: { 'raster-opacity': 0.6 } });
  }
  const levelWidth = ['match', ['get', 'level'], 'district', 2.2, 'street', 1.4, 'community', 0.9, 0.6];
  layers.push(
    { id: 'boundaries-fill', type: 'fill', source: 'rs', 'source-layer': 'boundaries',
      filter: ['==', ['get', 'level'], 'district'],
      paint: { 'fill-color': '#1b2a38', 'fill-opacity': 0.35 } },
    { id: 'boundaries-line', type: 'line', source: 'rs', 'source-layer': 'boundaries',
      paint: { 'line-color': ['match', ['get', 'level'], 'district', '#6e8aa6', 'street', '#4c6378', '#33465a'], 'line-width': levelWidth } },
    { id: 'cells', type: 'circle', source: 'rs', 'source-layer': 'cells', maxzoom: 13,
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'total']], 0, 2, 40, 9, 200, 22],
        'circle-color': cellColor(),
        'circle-opacity': 0.85, 'circle-stroke-color': '#0b1117', 'circle-stroke-width': 0.5,
      } },
    { id: 'buildings', type: 'circle', source: 'rs', 'source-layer': 'buildings', minzoom: 13,
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 13, 3, 16, 7, 19, 14],
        'circle-color': ['coalesce', ['feature-state', 'color'], ['get', 'color']],
        'circle-stroke-color': ['case', ['boolean', ['feature-state', 'selected'], false], '#ffffff', '#0b1117'],
        'circle-stroke-width': ['case', ['boolean', ['feature-state', 'selected'], false], 2.5, 0.8],
      } },
  );
  return { version: 8, sources, layers };
}

let map;
let selectedFID = null;

function initMap(info) {
  const b = info.bounds;
  map = new maplibregl.Map({
    container: 'map',
    style: buildStyle(info),
    bounds: b && b[0] !== b[2] ? [[b[0], b[1]], [b[2], b[3]]] : undefined,
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
    maxZoom: 20,
    transformRequest: (url) => (token && url.startsWith(location.origin) ? { url, headers: authHeaders() } : { url }),
  });
  window.__roomstateMap = map; // for the end-to-end test and for debugging
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  map.on('mouseenter', 'buildings', () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', 'buildings', () => { map.getCanvas().style.cursor = ''; });
  map.on('click', 'buildings', (e) => {
    const f = e.features && e.features[0];
    if (f) openBuilding(f.properties.id, f.id);
  });
  map.on('click', 'cells', (e) => {
    map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 2, 14) });
  });
}

function reloadTiles() {
  const src = map && map.getSource('rs');
  if (src) src.setUrl(tileJSONURL());
  if (map && map.getLayer('cells')) map.setPaintProperty('cells', 'circle-color', cellColor());
}

// --- legend and totals -------------------------------------------------------

async function loadLegend() {
  const q = new URLSearchParams({ scheme: state.scheme });
  if (state.where) q.set('where', state.where);
  const r = await api(`/api/v1/legend?${q}`);
  state.legend = r.legend;
  const ul = $('#legend');
  ul.innerHTML = '';
  let total = 0;
  for (const e of r.legend) {
    const li = document.createElement('li');
    li.dataset.state = e.state;
    li.innerHTML = `${shapeSVG(e.shape, e.color)}<span class="label"></span><span class="count"></span>`;
    li.querySelector('.label').textContent = label(e);
    li.querySelector('.count').textContent = fmt(e.count);
    ul.appendChild(li);
    total += e.count || 0;
  }
  $('#totals').textContent = t('totals')(state.info.dwellings, total) + (r.suppressed ? ` ${t('suppressed')}` : '');
  return r;
}

// --- summary by level ---------------------------------------------------------

const LEVELS = ['district', 'street', 'community', 'grid'];

async function loadSummary() {
  const here = state.crumbs[state.crumbs.length - 1];
  const q = state.where ? `?where=${encodeURIComponent(state.where)}` : '';
  let rows;
  if (here.level === null) {
    rows = (await api(`/api/v1/units/district${q}`)).units;
  } else {
    rows = (await api(`/api/v1/units/${here.level}/${encodeURIComponent(here.id)}${q}`)).children;
  }
  const nav = $('#crumbs');
  nav.innerHTML = '';
  state.crumbs.forEach((c, i) => {
    const a = document.createElement('a');
    a.textContent = c.level === null ? t('all') : c.name || c.id;
    a.onclick = () => { state.crumbs = state.crumbs.slice(0, i + 1); loadSummary(); if (c.bbox) fit(c.bbox); };
    nav.appendChild(a);
  });
  const tbody = $('#summary tbody');
  tbody.innerHTML = '';
  rows.sort((a, b) => (b.matched ?? 0) - (a.matched ?? 0) || (b.total ?? 0) - (a.total ?? 0));
  for (const u of rows) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td><td></td>';
    tr.children[0].textContent = u.name || u.id;
    tr.children[1].textContent = fmt(u.total);
    tr.children[2].textContent = fmt(u.matched);
    tr.onclick = () => {
      if (u.level === 'building') { openBuilding(u.id); return; }
      state.crumbs.push({ level: u.level, id: u.id, name: u.name, bbox: u.bbox });
      if (u.bbox) fit(u.bbox);
      loadSummary();
    };
    tbody.appendChild(tr);
  }
}

function fit(bbox) {
  if (!bbox || (bbox[0] === 0 && bbox[2] === 0)) return;
  map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, maxZoom: 17, duration: 800 });
}

// --- the room-state map of a building ---------------------------------------------

async function openBuilding(id, fid) {
  let r;
  try {
    r = await api(`/api/v1/buildings/${encodeURIComponent(id)}/roomstate?scheme=${encodeURIComponent(state.scheme)}`);
  } catch (err) {
    notice(err.status === 403 ? t('noRoomState') : err.message);
    return;
  }
  const b = r.building;
  if (selectedFID !== null) map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: false });
  selectedFID = fid ?? b.feature_id;
  map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: true });
  state.building = b.id;
  $('#building').hidden = false;
  $('#building-title').textContent = `${t('building')} ${b.id}`;
  $('#building-meta').textContent = t('metaLine')(b);
  const lg = $('#building-legend');
  lg.innerHTML = '';
  for (const e of r.legend) {
    const li = document.createElement('li');
    li.innerHTML = `${shapeSVG(e.shape, e.color)}<span></span>`;
    li.querySelector('span').textContent = `${label(e)} ${e.count}`;
    lg.appendChild(li);
  }
  const floors = $('#floors');
  floors.innerHTML = '';
  for (const fl of r.floors) {
    const row = document.createElement('div');
    row.className = 'floor';
    const lab = document.createElement('span');
    lab.className = 'label';
    lab.textContent = fl.floor === null ? t('unknownFloor') : `${fl.floor}${t('floor') === '层' ? ' 层' : ''}`;
    if (t('floor') !== '层' && fl.floor !== null) lab.textContent = `${t('floor')}${fl.floor}`;
    row.appendChild(lab);
    let lastUnit = null;
    for (const room of fl.rooms) {
      const d = document.createElement('span');
      d.className = 'room';
      if (lastUnit !== null && room.unit !== lastUnit) d.classList.add('unit-break');
      lastUnit = room.unit;
      d.dataset.id = room.id;
      d.dataset.state = room.state;
      d.innerHTML = `${shapeSVG(room.shape, room.color, 20)}<span></span>`;
      d.querySelector('span').textContent = room.room;
      const flags = room.flags.length ? room.flags.map(flagLabel).join('、') : '—';
      d.title = `${room.unit ? `${room.unit} ${state.lang === 'zh' ? '单元' : 'unit'} · ` : ''}${room.room} · ${room.id}\n${flags}`;
      row.appendChild(d);
    }
    floors.appendChild(row);
  }
}

function closeBuilding() {
  $('#building').hidden = true;
  state.building = null;
  if (selectedFID !== null) map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: false });
  selectedFID = null;
}

function notice(msg) {
  const n = $('#notice');
  n.textContent = msg;
  n.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 5000);
}

// --- live changes ------------------------------------------------------------------

const pending = new Set();
let flushTimer = null;
let legendTimer = null;
let summaryTimer = null;
let lowZoomTimer = null;

async function flushChanges() {
  flushTimer = null;
  if (pending.size === 0) return;
  const ids = [...pending];
  pending.clear();
  try {
    const r = await api('/api/v1/buildings/states', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids, where: state.where, scheme: state.scheme }),
    });
    for (const b of r.buildings) {
      map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: b.feature_id }, { color: b.color, state: b.state });
    }
  } catch (err) {
    console.warn('live update:', err);
  }
}

function onChange(ev) {
  const c = JSON.parse(ev.data);
  state.lastVersion = c.version;
  pending.add(c.building);
  if (!flushTimer) flushTimer = setTimeout(flushChanges, 120);
  if (!legendTimer) legendTimer = setTimeout(() => { legendTimer = null; loadLegend(); }, 250);
  if (!summaryTimer) summaryTimer = setTimeout(() => { summaryTimer = null; loadSummary(); }, 1500);
  if (state.building && c.building === state.building) openBuilding(state.building, selectedFID);
  // cells at low zoom aggregate many buildings: refresh those few tiles now and then
  if (map.getZoom() < 13 && !lowZoomTimer) lowZoomTimer = setTimeout(() => { lowZoomTimer = null; reloadTiles(); }, 5000);
}

function connectChanges() {
  const es = new EventSource(`/api/v1/changes${token ? `?access_token=${encodeURIComponent(token)}` : ''}`);
  es.addEventListener('change', onChange);
  es.addEventListener('gone', () => { es.close(); reloadTiles(); loadLegend(); setTimeout(connectChanges, 500); });
  es.onopen = () => { $('#live').className = 'live on'; };
  es.onerror = () => { $('#live').className = 'live off'; };
}

// --- start -------------------------------------------------------------------------

async function applyFilter(where) {
  const q = new URLSearchParams({ scheme: state.scheme });
  if (where) q.set('where', where);
  try {
    await api(`/api/v1/legend?${q}`); // checks the expression
  } catch (err) {
    $('#where-error').textContent = err.message;
    return;
  }
  $('#where-error').textContent = '';
  state.where = where;
  const u = new URL(location.href);
  if (where) u.searchParams.set('where', where); else u.searchParams.delete('where');
  history.replaceState(null, '', u);
  reloadTiles();
  loadLegend();
  loadSummary();
  if (state.building) openBuilding(state.building, selectedFID);
}

async function main() {
  applyI18n();
  try {
    state.info = await api('/api/v1/info');
  } catch (err) {
    notice(err.status === 401 ? (state.lang === 'zh' ? '需要访问令牌：请用 /?token=… 打开' : 'A token is needed: open /?token=…') : err.message);
    return;
  }
  const sel = $('#scheme');
  for (const s of state.info.schemes) {
    const o = document.createElement('option');
    o.value = o.textContent = s;
    sel.appendChild(o);
  }
  sel.value = state.scheme;
  sel.onchange = () => { state.scheme = sel.value; reloadTiles(); loadLegend(); if (state.building) openBuilding(state.building, selectedFID); };
  $('#where').value = state.where;
  $('#filter').onsubmit = (e) => { e.preventDefault(); applyFilter($('#where').value.trim()); };
  $('#clear-where').onclick = () => { $('#where').value = ''; applyFilter(''); };
  $('#lang').onclick = () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('roomstate.lang', state.lang);
    applyI18n();
    loadLegend();
    loadSummary();
    if (state.building) openBuilding(state.building, selectedFID);
  };
  $('#building-close').onclick = closeBuilding;
  initMap(state.info);
  await Promise.all([loadLegend(), loadSummary()]);
  connectChanges();
  document.body.dataset.ready = '1';
}

main();

// The roomstate dashboard: the live room-state map of a city on MapLibre,
// a legend with live counts per state, a summary by level with drill-down,
// a flag-expression filter, and the room-state map of a clicked building;
// a time control shows all of it as of a past day, time or version, with each unit's
// change since the day before and a trend of the legend's counts. Two more
// views colour the map otherwise: by who answers for each building, with
// coverage per unit and each person's workload (responsibility.js), and by
// a campaign's progress, with its units ranked and a burn-down chart
// (campaign.js).
// Served by roomstate itself: MapLibre and uPlot are built into the binary
// (no CDN, no build step).
import * as maplibregl from '/assets/maplibre/maplibre-gl.mjs';
import {
  addDays, dayOf, historyGone, learnOffset, moment, momentOfParam, sameZoneAsBrowser, setZone, timeOf, today, versionMoment, zoneLabel, zoneOffset,
} from './asof.js';
import { Trend } from './trend.js';
import { CampaignPanel } from './campaign.js';
import { ResponsibilityPanel } from './responsibility.js';

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
    // time control, history
    asOf: '时点', asOfGo: '查看', yesterday: '昨天', weekAgo: '一周前', historical: '历史',
    backLive: '返回实时', histView: '历史视图', livePaused: '实时更新已暂停',
    version: (v) => `版本 ${v}`,
    endOfDay: (d) => `${d} 日终`,
    pickDay: '请选择日期',
    noTime: (v) => `无法得知版本 ${v} 的时间`,
    schemeLater: (n) => `图例方案“${n}”在所选时点尚未建立，改用 default`,
    schemeNotThen: (n) => `图例方案“${n}”在所显示的时点尚未建立`,
    gone: (when, v) => `所选时点早于服务器保留的历史。最早可查看：${when}（版本 ${v}）`,
    goneUnknown: '所选时点早于服务器保留的历史',
    delta: '较昨日', deltaOldest: '较最早',
    deltaTitle: (day) => `与 ${day} 日终相比`,
    deltaOldestTitle: (when, v) => `保留的历史始于 ${when}（版本 ${v}），与那时相比`,
    trend: '趋势', trendDays: (n, unit) => `${unit} · 近 ${n} 天`,
    trendSince: (when, unit) => `${unit} · 自 ${when} 起（保留的全部历史）`,
    // views: the room-state map, responsibility (楼组包干), campaigns (挂图作战)
    viewScheme: '房态', viewResp: '包干', viewCampaign: '挂图作战',
    // the building's responsible person
    responsible: '包干责任人', nobody: '无人包干', lastVisit: '最近走访', neverVisited: '从未走访',
    viaUnit: (level, id) => (level === 'building' ? '本楼栋指派' : `经${I18N.zh[level] || level} ${id} 包干`),
    visitBy: (when, by) => `${when}（${by}）`,
    // responsibility
    persons: '责任人', unassigned: '未指派', coverage: '包干覆盖', buildings: '楼栋', assigned: '已包干',
    unassignedCol: '未包干', muCol: '未包干户', muColWhere: '未包干·符合', staleCol: '超期未访',
    muTitle: '未包干楼栋中的户数', muTitleWhere: (w) => `未包干楼栋中符合 ${w} 的户数`,
    stalePeriod: '走访期限', staleOff: '不统计', staleDays: (n) => `${n} 天`,
    personsInView: (p, b) => `视野内 ${b} 栋楼，${p} 位责任人`,
    personsZoom: '放大地图可见各楼栋的责任人',
    personsCity: (n) => `全市 ${n} 位责任人（按包干层级）`,
    personsMore: (n) => `另有 ${n} 位`,
    personBuildings: (n) => `${n} 栋`,
    personOnlyAnalyst: '责任人的工作量仅分析员及以上角色可查看',
    via: '来源', workloadBuildings: '楼栋', workloadDwellings: '户数', workloadMatched: '符合',
    coverageNow: '包干与走访为当前数据',
    // campaigns
    campaign: '专项任务', noCampaigns: '暂无进行中的专项任务',
    cTotal: '任务总量', cDone: '已完成', cRemaining: '剩余任务量', cRate: '日均', cEta: '预计完成',
    cTotalShort: '总量', cRemainingShort: '剩余',
    cDef: (c) => `对象 ${c.target} · 完成 ${c.goal}`,
    cDates: (start, deadline) => `${start} 开始${deadline ? ` · ${deadline} 截止` : ''}`,
    cRemoved: (n) => `已移除 ${n}`,
    cFinished: '已完成',
    cRank: (level) => `${I18N.zh[level] || level}排名（按剩余任务量）`,
    stRemaining: '有剩余任务', stDone: '任务已完成', stNone: '无任务',
    campaignHist: '历史视图：地图按图例着色，任务进度为当前数据',
    burndown: '燃尽图', bdRemaining: '剩余任务量', bdIdeal: '按期完成', bdForecast: '按日均预计',
    bdRemainingNote: '过去各日的剩余 = 总量 − 当日已完成 − 目前已移除',
    bdWithheld: '数字小于公开阈值，已隐藏',
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
    asOf: 'As of', asOfGo: 'View', yesterday: 'Yesterday', weekAgo: 'A week ago', historical: 'History',
    backLive: 'Back to live', histView: 'Historical view', livePaused: 'live updates paused',
    version: (v) => `version ${v}`,
    endOfDay: (d) => `end of ${d}`,
    pickDay: 'Pick a day',
    noTime: (v) => `The time of version ${v} is not known`,
    schemeLater: (n) => `Scheme "${n}" did not exist yet at that moment; showing default`,
    schemeNotThen: (n) => `Scheme "${n}" did not exist yet at the moment shown`,
    gone: (when, v) => `That moment is before the history the server keeps. The earliest is ${when} (version ${v})`,
    goneUnknown: 'That moment is before the history the server keeps',
    delta: 'Change', deltaOldest: 'Change',
    deltaTitle: (day) => `Since the end of ${day}`,
    deltaOldestTitle: (when, v) => `Since ${when} (version ${v}), where the history kept starts`,
    trend: 'Trend', trendDays: (n, unit) => `${unit} · last ${n} days`,
    trendSince: (when, unit) => `${unit} · since ${when} (all history kept)`,
    viewScheme: 'Room state', viewResp: 'Responsibility', viewCampaign: 'Campaigns',
    responsible: 'Responsible', nobody: 'Nobody answers for it', lastVisit: 'Last visit', neverVisited: 'never visited',
    viaUnit: (level, id) => (level === 'building' ? 'assigned to this building' : `via ${(I18N.en[level] || level).toLowerCase()} ${id}`),
    visitBy: (when, by) => `${when} (${by})`,
    persons: 'Responsible persons', unassigned: 'Unassigned', coverage: 'Coverage', buildings: 'Buildings', assigned: 'Assigned',
    unassignedCol: 'Unassigned', muCol: 'Dwellings unassigned', muColWhere: 'Matched unassigned', staleCol: 'Not visited',
    muTitle: 'Dwellings in unassigned buildings', muTitleWhere: (w) => `Dwellings matching ${w} in unassigned buildings`,
    stalePeriod: 'Visited within', staleOff: 'not counted', staleDays: (n) => `${n} day${n === 1 ? '' : 's'}`,
    personsInView: (p, b) => `${b} buildings in view, ${p} persons`,
    personsZoom: 'Zoom in to see who answers for each building',
    personsCity: (n) => `${n} persons in the city (by level of assignment)`,
    personsMore: (n) => `${n} more`,
    personBuildings: (n) => `${n} bldg`,
    personOnlyAnalyst: 'A person\'s workload is shown to analysts and above',
    via: 'Via', workloadBuildings: 'Buildings', workloadDwellings: 'Dwellings', workloadMatched: 'Matched',
    coverageNow: 'Assignments and visits as they are now',
    campaign: 'Campaign', noCampaigns: 'No campaign is running',
    cTotal: 'Tasks', cDone: 'Done', cRemaining: 'Remaining', cRate: 'Daily rate', cEta: 'ETA',
    cTotalShort: 'Tasks', cRemainingShort: 'Remaining',
    cDef: (c) => `tasks ${c.target} · done when ${c.goal}`,
    cDates: (start, deadline) => `started ${start}${deadline ? ` · deadline ${deadline}` : ''}`,
    cRemoved: (n) => `${n} removed`,
    cFinished: 'done',
    cRank: (level) => `${{ district: 'Districts', street: 'Streets', community: 'Communities', grid: 'Grids' }[level] || level} by remaining tasks`,
    stRemaining: 'tasks remaining', stDone: 'all tasks done', stNone: 'no task',
    campaignHist: 'Historical view: the map shows the scheme; progress is as it is now',
    burndown: 'Burn-down', bdRemaining: 'Remaining', bdIdeal: 'On schedule', bdForecast: 'At the daily rate',
    bdRemainingNote: 'a past day\'s remaining = tasks − done that day − removed by now',
    bdWithheld: 'Counts below the disclosure threshold are not shown',
  },
};

const params = new URLSearchParams(location.search);
const VIEWS = ['scheme', 'responsibility', 'campaign'];
// an access token, given once as ?token=… (or ?access_token=…, as the API
// takes it), is kept for the session and taken out of the address bar
const token = params.get('token') || params.get('access_token') || sessionStorage.getItem('roomstate.token') || '';
if (params.get('token') || params.get('access_token')) {
  sessionStorage.setItem('roomstate.token', token);
  params.delete('token');
  params.delete('access_token');
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
  connected: false,
  // the moment shown, or null for live: {param, date, time, ms} as the time
  // control chose it (see asof.js) and version, the state the server
  // resolved it to; every view asks for that version, so all show one state
  asOf: null,
  // what a 410 history_gone told of the retained history: {oldest, ms}
  gone: null,
  // what the map shows: the scheme's colours, who answers for each
  // building, or a campaign's progress (campaign: its name)
  view: VIEWS.includes(params.get('view')) ? params.get('view') : 'scheme',
  campaign: params.get('campaign') || '',
  person: null, // the person whose buildings are marked (responsibility view)
};
const t = (k) => I18N[state.lang][k] ?? I18N.zh[k] ?? k;
const fmt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-US'));
const $ = (sel) => document.querySelector(sel);

// api fetches JSON; a failure throws an Error with the status and the body
// (err.body.error.code, …).
async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...(opts.headers || {}), ...authHeaders() } });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = new Error((body && body.error && body.error.message) || r.statusText);
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

// query builds a query string from the entries whose value is not empty.
function query(entries) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// asOfParam is the as_of of every view: the pinned version, or none (live).
const asOfParam = () => (state.asOf ? state.asOf.version : '');

// latest returns a function that says whether the call that made it is still
// the newest of fn's calls: an older answer arriving late must not overwrite
// a newer one (switching between live and a past moment, say).
function latest(fn) {
  fn.seq = (fn.seq || 0) + 1;
  const seq = fn.seq;
  return () => fn.seq === seq;
}

function applyI18n() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $('#lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
  document.title = `${t('title')} · roomstate`;
  renderMode();
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

// tileSource asks the server for the TileJSON of the current view and
// returns the tiles' source. The TileJSON's tile URLs are given to MapLibre
// directly (not the TileJSON's URL), so that a new view replaces them with
// setTiles, and a refused view (a bad filter, a moment before the history
// kept) fails here, before the map is touched.
async function tileSource() {
  const tj = await api(`/tiles.json${query({ where: state.where, scheme: state.scheme === 'default' ? '' : state.scheme, as_of: asOfParam(), ...viewParams() })}`);
  return { type: 'vector', tiles: tj.tiles.map(pinTiles), minzoom: tj.minzoom, maxzoom: tj.maxzoom, bounds: tj.bounds };
}

// viewParams are the view and campaign parameters of tiles and of the
// buildings' states: a campaign's colours are of now only, so as of a past
// moment its map shows the scheme's.
function viewParams() {
  return {
    view: state.view === 'responsibility' ? 'responsibility' : '',
    campaign: state.view === 'campaign' && !state.asOf ? state.campaign : '',
  };
}

// pinTiles makes a tile URL name the version shown as of a moment. The server
// leaves as_of out when that version was the newest as it answered; the tiles
// loaded later (panning, zooming) must still show that version, not the
// changes made since.
function pinTiles(url) {
  if (!state.asOf) return url;
  const i = url.indexOf('?'); // the path holds {z}/{x}/{y}: no URL parsing
  const q = new URLSearchParams(i < 0 ? '' : url.slice(i + 1));
  q.set('as_of', state.asOf.version);
  return `${i < 0 ? url : url.slice(0, i)}?${q}`;
}

// cells: without a filter, sized and shaded by dwellings; with one, coloured
// by the share of dwellings that match it; a crowded tile's cells (at the
// buildings' zoom) come with the colour of their buildings' state
function cellColor() {
  // a campaign's overview: cells say how many live there in greys, so that
  // they read as neither of the campaign's own colours (done blue, remaining
  // orange); its buildings carry its states from zoom 13
  if (state.view === 'campaign') {
    return ['case', ['has', 'color'], ['to-color', ['get', 'color']],
      ['interpolate', ['linear'], ['sqrt', ['to-number', ['get', 'total'], 0]], 0, '#4a4f55', 60, '#8a9097', 200, '#d0d4d8']];
  }
  const shade = !state.where
    ? ['interpolate', ['linear'], ['sqrt', ['to-number', ['get', 'total'], 0]], 0, '#2a5d8f', 60, '#4fa3ff', 200, '#b6dcff']
    : ['interpolate', ['linear'],
      ['/', ['to-number', ['get', 'matched'], 0], ['max', ['to-number', ['get', 'total'], 1], 1]],
      0, '#3a4a5a', 0.005, '#fdae61', 0.05, '#f46d43', 0.2, '#d7191c'];
  return ['case', ['has', 'color'], ['to-color', ['get', 'color']], shade];
}

function buildStyle(info, source) {
  const sources = { rs: source };
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
    // the units of the responsibility or campaign panel, shaded by how much
    // is left to do in each (setUnitFill)
    { id: 'units-fill', type: 'fill', source: 'rs', 'source-layer': 'boundaries',
      layout: { visibility: 'none' }, filter: ['==', ['get', 'level'], ''],
      // strong at the city's zoom, faint under the buildings
      paint: { 'fill-color': 'rgba(0,0,0,0)', 'fill-opacity': ['interpolate', ['linear'], ['zoom'], 11, 1, 13, 0.5, 15, 0.25] } },
    { id: 'boundaries-line', type: 'line', source: 'rs', 'source-layer': 'boundaries',
      paint: { 'line-color': ['match', ['get', 'level'], 'district', '#6e8aa6', 'street', '#4c6378', '#33465a'], 'line-width': levelWidth } },
    // cells below zoom 13, and in a tile too crowded to draw its buildings one by one
    { id: 'cells', type: 'circle', source: 'rs', 'source-layer': 'cells',
      paint: {
        // a crowded tile's cells stand among buildings: about their size
        'circle-radius': ['case', ['has', 'color'],
          ['interpolate', ['linear'], ['sqrt', ['get', 'total']], 0, 3, 40, 5, 200, 8],
          ['interpolate', ['linear'], ['sqrt', ['get', 'total']], 0, 2, 40, 9, 200, 22]],
        'circle-color': cellColor(),
        'circle-opacity': 0.85, 'circle-stroke-color': '#0b1117', 'circle-stroke-width': 0.5,
      } },
    { id: 'buildings', type: 'circle', source: 'rs', 'source-layer': 'buildings', minzoom: 13,
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 13, 3, 16, 7, 19, 14],
        // live changes recolour through feature-state, without new tiles
        'circle-color': ['coalesce', ['feature-state', 'color'], ['get', 'color']],
        ...buildingStroke(),
      } },
  );
  return { version: 8, sources, layers };
}

// buildingStroke is the buildings' outline and opacity: white for the
// building whose room-state map is open. In the responsibility view a red
// ring marks the buildings nobody answers for, a light one the others (the
// palette's darker colours on the dark map), and when a person is chosen
// the buildings of others fade.
function buildingStroke() {
  const selected = ['boolean', ['feature-state', 'selected'], false];
  const cases = [[selected, '#ffffff', 2.5]];
  let other = ['#0b1117', 0.8];
  let opacity = 1;
  if (state.view === 'responsibility') {
    const look = (k) => ['coalesce', ['feature-state', k], ['get', k], ''];
    cases.push([['==', look('state'), 'unassigned'], '#ff5a4f', 2]);
    other = ['rgba(230,237,243,0.75)', 1];
    if (state.person !== null) {
      const theirs = ['==', look('person'), state.person];
      cases.unshift([theirs, '#ffffff', 2.5]);
      opacity = ['case', theirs, 1, selected, 1, 0.25];
    }
  }
  return {
    'circle-stroke-color': ['case', ...cases.flatMap(([when, color]) => [when, color]), other[0]],
    'circle-stroke-width': ['case', ...cases.flatMap(([when, , w]) => [when, w]), other[1]],
    'circle-opacity': opacity,
    'circle-stroke-opacity': opacity,
  };
}

function restyleBuildings() {
  if (!map || !map.getLayer('buildings')) return;
  for (const [k, v] of Object.entries(buildingStroke())) map.setPaintProperty('buildings', k, v);
}

// setUnitFill shades the units of level on the map, each id in the colour
// colors maps it to (others clear); no level hides the shading.
function setUnitFill(level, colors) {
  if (!map || !map.getLayer('units-fill')) return;
  if (!level || !colors || colors.size === 0) {
    map.setLayoutProperty('units-fill', 'visibility', 'none');
    return;
  }
  const match = ['match', ['get', 'id']];
  for (const [id, c] of colors) match.push(id, c);
  match.push('rgba(0,0,0,0)');
  map.setFilter('units-fill', ['==', ['get', 'level'], level]);
  map.setPaintProperty('units-fill', 'fill-color', match);
  map.setLayoutProperty('units-fill', 'visibility', 'visible');
}

// drawCrumbs fills nav with the path of a drill-down table, the city first
// (crumbs: {level, id, name}, level null for the city); picking one calls
// pick with its index and crumb.
function drawCrumbs(nav, crumbs, pick) {
  nav.innerHTML = '';
  crumbs.forEach((cr, i) => {
    const a = document.createElement('a');
    a.textContent = cr.level === null ? t('all') : cr.name || cr.id;
    a.onclick = () => pick(i, cr);
    nav.appendChild(a);
  });
}

// fitUnit moves the map to a unit's boundary, as far as the tiles loaded
// hold it (units' answers carry no box).
function fitUnit(level, id) {
  if (!map) return;
  const fs = map.querySourceFeatures('rs', { sourceLayer: 'boundaries', filter: ['all', ['==', ['get', 'level'], level], ['==', ['get', 'id'], id]] });
  let b = null;
  const add = (c) => {
    if (typeof c[0] === 'number') {
      b = b ? [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])] : [c[0], c[1], c[0], c[1]];
    } else c.forEach(add);
  };
  for (const f of fs) add(f.geometry.coordinates);
  if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, maxZoom: 16, duration: 800 });
}

let map;
let selectedFID = null;
const tileRequests = []; // the URLs of the last tiles the map asked for

function initMap(info, source) {
  const b = info.bounds;
  map = new maplibregl.Map({
    container: 'map',
    style: buildStyle(info, source),
    bounds: b && b[0] !== b[2] ? [[b[0], b[1]], [b[2], b[3]]] : undefined,
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
    maxZoom: 20,
    transformRequest: (url, kind) => {
      if (kind === 'Tile') {
        tileRequests.push(url);
        if (tileRequests.length > 500) tileRequests.splice(0, 250);
      }
      return token && url.startsWith(location.origin) ? { url, headers: authHeaders() } : { url };
    },
  });
  window.__roomstateMap = map; // for the end-to-end test and for debugging
  window.__roomstateTileRequests = tileRequests; // the last tiles asked for, likewise
  window.__roomstateState = state; // read by export.js (downloads and prints)
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  map.on('mouseenter', 'buildings', () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', 'buildings', () => { map.getCanvas().style.cursor = ''; });
  map.on('click', 'buildings', (e) => {
    // of buildings whose circles overlap, the one whose centre is nearest
    let best = null;
    let bestD = Infinity;
    for (const f of e.features || []) {
      const d = map.project(f.geometry.coordinates).dist(e.point);
      if (d < bestD) [best, bestD] = [f, d];
    }
    if (best) openBuilding(best.properties.id, best.id);
  });
  map.on('click', 'cells', (e) => {
    map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 2, 16) });
  });
}

// reloadTiles points the map at the tiles of the current view (filter,
// scheme, moment). The colours live changes set through feature-state are
// dropped: the new tiles carry the right ones, and a live colour must not
// paint over a past state.
let tilesGen = 0; // counts the tile sources: live colours asked for under one are dropped under the next

async function reloadTiles() {
  if (!map) return;
  const current = latest(reloadTiles);
  let source;
  try {
    source = await tileSource();
  } catch (err) {
    notice(err.message);
    return;
  }
  if (!current()) return;
  tilesGen++;
  map.removeFeatureState({ source: 'rs', sourceLayer: 'buildings' });
  if (selectedFID !== null) map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: true });
  map.getSource('rs').setTiles(source.tiles);
  if (map.getLayer('cells')) map.setPaintProperty('cells', 'circle-color', cellColor());
}

// --- legend and totals -------------------------------------------------------

async function loadLegend() {
  const current = latest(loadLegend);
  const q = { scheme: state.scheme, as_of: asOfParam() };
  // as of a moment the city's size is the sum of the unfiltered legend (its
  // states take every dwelling once); live it is the info's
  const [r, all] = await Promise.all([
    api(`/api/v1/legend${query({ ...q, where: state.where })}`),
    state.asOf && state.where ? api(`/api/v1/legend${query(q)}`) : null,
  ]);
  if (!current()) return r;
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
  const sum = (l) => (l.some((e) => e.count === null) ? null : l.reduce((n, e) => n + e.count, 0));
  const dwellings = state.asOf ? sum((all || r).legend) : state.info.dwellings;
  $('#totals').textContent = t('totals')(dwellings, total) + (r.suppressed ? ` ${t('suppressed')}` : '');
  return r;
}

// --- summary by level ---------------------------------------------------------

const LEVELS = ['district', 'street', 'community', 'grid'];

// sinceDay is the day whose end the ▲/▼ compare with: the day before the
// day shown (yesterday, live).
const sinceDay = () => addDays(state.asOf ? state.asOf.date : today(), -1);

// unitsWithDelta asks for path's units with their change since the end of
// sinceDay(). When that is before the history the server keeps (a city
// loaded today), the change is since the oldest state kept instead; base
// says which: {day} or {gone}.
async function unitsWithDelta(path) {
  const q = { where: state.where, as_of: asOfParam() };
  const day = sinceDay();
  if (!(state.gone && state.gone.day === day)) {
    try {
      return { body: await api(`${path}${query({ ...q, since: day })}`), base: { day } };
    } catch (err) {
      const gone = historyGone(err);
      if (!gone) throw err;
      noteGone(gone, day);
    }
  }
  return { body: await api(`${path}${query({ ...q, since: state.gone.oldest })}`), base: { gone: state.gone } };
}

// noteGone keeps what a 410 history_gone told: the oldest version and time
// kept, and (day) a day found to be before them. The date picker starts there.
function noteGone(gone, day) {
  state.gone = { ...gone, day: day || (state.gone && state.gone.day) };
  if (gone.ms !== null) $('#asof-date').min = dayOf(gone.ms);
}

// whenText formats an instant (Unix ms) in the server's time zone, rounded
// up to the second (the earliest second a user may ask for).
const whenText = (ms) => `${dayOf(Math.ceil(ms / 1000) * 1000)} ${timeOf(Math.ceil(ms / 1000) * 1000)}`;

async function loadSummary() {
  const current = latest(loadSummary);
  const here = state.crumbs[state.crumbs.length - 1];
  const path = here.level === null ? '/api/v1/units/district' : `/api/v1/units/${here.level}/${encodeURIComponent(here.id)}`;
  const { body, base } = await unitsWithDelta(path);
  if (!current()) return;
  const rows = here.level === null ? body.units : body.children;
  renderCrumbs();
  renderDeltaHeader(base);
  const tbody = $('#summary tbody');
  tbody.innerHTML = '';
  rows.sort((a, b) => (b.matched ?? 0) - (a.matched ?? 0) || (b.total ?? 0) - (a.total ?? 0));
  for (const u of rows) {
    const tr = document.createElement('tr');
    tr.dataset.id = u.id;
    tr.innerHTML = '<td></td><td></td><td></td><td class="delta"></td>';
    tr.children[0].textContent = u.name || u.id;
    tr.children[1].textContent = fmt(u.total);
    tr.children[2].textContent = fmt(u.matched);
    showDelta(tr.children[3], u.delta);
    tr.onclick = () => {
      if (u.level === 'building') { openBuilding(u.id); return; }
      state.crumbs.push({ level: u.level, id: u.id, name: u.name, bbox: u.bbox });
      if (u.bbox) fit(u.bbox);
      else fitUnit(u.level, u.id); // units' answers carry no box: the boundary the tiles hold
      loadSummary();
      refreshTrend();
    };
    tbody.appendChild(tr);
  }
}

function renderCrumbs() {
  drawCrumbs($('#crumbs'), state.crumbs, (i, c) => {
    state.crumbs = state.crumbs.slice(0, i + 1);
    loadSummary();
    refreshTrend();
    if (c.bbox) fit(c.bbox);
  });
}

// renderDeltaHeader names what the ▲/▼ column compares with.
function renderDeltaHeader(base) {
  const th = $('#delta-head');
  if (base.gone) {
    th.textContent = t('deltaOldest');
    th.title = base.gone.ms === null ? '' : t('deltaOldestTitle')(whenText(base.gone.ms), base.gone.oldest);
  } else {
    th.textContent = t('delta');
    th.title = t('deltaTitle')(base.day);
  }
}

// showDelta writes a unit's change of matched dwellings as ▲ n or ▼ n, or 0
// (no change, as other cells write a count of none), with the changes of its
// total and flags on hover; nothing when it is withheld (null, for viewers)
// or not known, so that "no change" and "no figure" read apart.
function showDelta(td, d) {
  const n = d ? d.matched : null;
  if (n === null || n === undefined) return;
  td.textContent = n === 0 ? fmt(0) : `${n > 0 ? '▲' : '▼'} ${fmt(Math.abs(n))}`;
  td.classList.add(n > 0 ? 'up' : n < 0 ? 'down' : 'same');
  const signed = (v) => `${v > 0 ? '+' : ''}${fmt(v)}`;
  const parts = [`${t('total')} ${signed(d.total)}`, `${t('matched')} ${signed(n)}`];
  for (const [f, v] of Object.entries(d.flags || {})) if (v) parts.push(`${flagLabel(f)} ${signed(v)}`);
  td.title = parts.join(' · ');
}

function fit(bbox) {
  if (!bbox || (bbox[0] === 0 && bbox[2] === 0)) return;
  map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, maxZoom: 17, duration: 800 });
}

// --- the trend of the legend's counts -------------------------------------------

let trend;
const schemes = new Map(); // name → the scheme's rules, as GET /api/v1/schemes/{name} gives them

async function schemeRules(name) {
  if (!schemes.has(name)) schemes.set(name, await api(`/api/v1/schemes/${encodeURIComponent(name)}`));
  return schemes.get(name);
}

// stateWhere is the flag expression of the dwellings the legend counts in
// state i of rules (the default state: i = rules.length): those matching the
// filter and rule i and none before it, the first rule that holds giving a
// dwelling its state.
function stateWhere(rules, i) {
  const parts = [];
  if (state.where) parts.push(`(${state.where})`);
  if (i < rules.length) parts.push(`(${rules[i].when})`);
  for (const r of rules.slice(0, i)) parts.push(`!(${r.when})`);
  return parts.join(' & ');
}

// infoKept is the history kept as /api/v1/info told at start: {oldest, ms}
// of the oldest state, or null.
function infoKept() {
  const h = state.info && state.info.history;
  const ms = h && h.oldest_time ? Date.parse(h.oldest_time) : NaN;
  return Number.isNaN(ms) ? null : { oldest: h.oldest, ms };
}

// trendSeries asks for one series per state of the scheme, over the last 30
// days to the moment shown (now, live), a point a day. When that reaches
// before the history kept (as a 410 told, else as info said: the server cuts
// a series without from to the history kept rather than refuse it), it asks
// for the history kept instead, in 30 points; span says which: {days} or
// {since}.
async function trendSeries(unit, wheres) {
  const where0 = { level: unit.level, id: unit.id };
  // to the moment shown (a version's: the time its state began)
  const to = !state.asOf ? '' : state.asOf.byVersion ? new Date(state.asOf.ms).toISOString() : state.asOf.param;
  const ask = (span) => Promise.all(wheres.map((w) => api(`/api/v1/history${query({ ...where0, where: w, ...span })}`)));
  let kept = state.gone || infoKept();
  if (!(kept && kept.ms !== null && (state.asOf ? state.asOf.ms : Date.now()) - 29 * 86_400_000 < kept.ms)) {
    try {
      return { answers: await ask({ to, step: '1d' }), span: { days: 30 } };
    } catch (err) {
      const gone = historyGone(err);
      if (!gone || gone.ms === null) throw err;
      noteGone(gone);
      kept = state.gone;
    }
  }
  // 30 points at most, the last at the moment shown, none before the oldest
  // (not before the oldest either: this browser's clock may be behind the server's)
  const toMs = Math.max(kept.ms, state.asOf ? Math.min(state.asOf.ms, Date.now()) : Date.now());
  const step = Math.max(1, Math.ceil((toMs - kept.ms) / 29 / 1000));
  const from = toMs - Math.floor((toMs - kept.ms) / (step * 1000)) * step * 1000;
  const span = { from: new Date(from).toISOString(), to: new Date(toMs).toISOString(), step: `${step}s` };
  return { answers: await ask(span), span: { since: from } };
}

let lastTrend = null; // what loadTrend drew, to draw it again in another language

// refreshTrend loads the trend again; a trend that fails to load leaves the
// rest of the dashboard as it is.
const refreshTrend = () => loadTrend().catch((err) => console.warn('trend:', err));

async function loadTrend() {
  const current = latest(loadTrend);
  const here = state.crumbs[state.crumbs.length - 1];
  const sch = await schemeRules(state.scheme);
  const rules = [...sch.rules, sch.default];
  const { answers, span } = await trendSeries(here, rules.map((_, i) => stateWhere(sch.rules, i)));
  if (!current()) return;
  if (answers[0].points.length) learnOffset(answers[0].points[0].time);
  lastTrend = { here, rules, answers, span };
  drawTrend();
}

function drawTrend() {
  if (!lastTrend) return;
  const { here, rules, answers, span } = lastTrend;
  const times = answers[0].points.map((p) => Date.parse(p.time) / 1000);
  const states = rules.map((r, i) => ({ label: label(r), color: r.color, values: answers[i].points.map((p) => p.matched) }));
  trend.draw(times, states, state.lang);
  const unit = here.level === null ? t('all') : here.name || here.id;
  $('#trend-caption').textContent = span.days ? t('trendDays')(span.days, unit) : t('trendSince')(whenText(span.since), unit);
}

// --- the room-state map of a building ---------------------------------------------

// openBuilding opens the room-state map of building id (its feature fid,
// when known); fly moves the map to it.
async function openBuilding(id, fid, fly = false) {
  const current = latest(openBuilding);
  let r;
  try {
    r = await api(`/api/v1/buildings/${encodeURIComponent(id)}/roomstate${query({ scheme: state.scheme, as_of: asOfParam() })}`);
  } catch (err) {
    if (current()) notice(err.status === 403 ? t('noRoomState') : err.message);
    return;
  }
  if (!current()) return; // a newer map asked for (another building, moment or scheme)
  const b = r.building;
  if (selectedFID !== null) map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: false });
  selectedFID = fid ?? b.feature_id;
  map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: true });
  state.building = b.id;
  $('#building').hidden = false;
  $('#building-title').textContent = `${t('building')} ${b.id}`;
  $('#building-meta').textContent = t('metaLine')(b) + (state.asOf ? ` · ${t('historical')} ${momentText(state.asOf)} · ${t('version')(r.version)}` : '');
  showResponsible(b);
  if (fly) map.easeTo({ center: [b.lon, b.lat], zoom: Math.max(map.getZoom(), 16), duration: 800 });
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

// showResponsible names who answers for building b (the person, their team
// and phone, the assignment it comes through) and its last visit. The name
// opens the person's workload.
function showResponsible(b) {
  const p = $('#building-resp');
  p.innerHTML = '';
  const part = (cls, text) => {
    const s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    p.appendChild(s);
    return s;
  };
  part('k', t('responsible'));
  const a = b.responsible;
  if (a) {
    const name = document.createElement('button');
    name.type = 'button';
    name.className = 'person-link';
    name.dataset.person = a.person;
    name.innerHTML = `<i class="swatch" style="background:${personColor(a.person)}"></i><span></span>`;
    name.querySelector('span').textContent = a.person;
    name.onclick = () => { setView('responsibility'); responsibility.showPerson(a.person); };
    p.appendChild(name);
    if (a.team) part('team', a.team);
    if (a.phone) part('phone', a.phone);
    part('via', t('viaUnit')(a.level, a.id)).dataset.level = a.level;
  } else {
    part('none', t('nobody'));
  }
  part('k', t('lastVisit'));
  const v = b.last_visit;
  if (v) {
    const ms = Date.parse(v.time);
    const when = `${dayOf(ms)} ${timeOf(ms).slice(0, 5)}`;
    part('visit', v.by ? t('visitBy')(when, v.by) : when).title = v.note || '';
  } else {
    part('visit none', t('neverVisited'));
  }
}

// PALETTE and personColor are the server's colours of persons (Paul Tol's
// muted scheme, FNV-1a of the name's UTF-8), for what tiles do not colour.
const PALETTE = ['#332288', '#88ccee', '#44aa99', '#117733', '#999933', '#ddcc77', '#cc6677', '#882255', '#aa4499'];
function personColor(name) {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function closeBuilding() {
  $('#building').hidden = true;
  state.building = null;
  if (selectedFID !== null) map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: selectedFID }, { selected: false });
  selectedFID = null;
}

function notice(msg, ms = 5000) {
  const n = $('#notice');
  n.textContent = msg;
  n.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, ms);
}

// --- the time control: live, or as of a day or a time ----------------------------

// momentText says which moment is shown: "2026-11-26 日终" or a day and time
// (in the server's time zone, named when the browser's is another).
const momentText = (m) => `${m.time ? `${m.date} ${m.time}` : t('endOfDay')(m.date)}${sameZoneAsBrowser() ? '' : ` (${zoneLabel()})`}`;

// resolveMoment asks which version moment m shows (a legend as of it) and
// returns m with it ({...m, version}; a moment given as a version gets the
// time its state began, which the legend tells), or null after explaining
// why not (a moment before the history kept, say).
async function resolveMoment(m) {
  if (!m) {
    notice(t('pickDay'));
    return null;
  }
  try {
    const r = await api(`/api/v1/legend${query({ scheme: state.scheme, where: state.where, as_of: m.param })}`);
    if (m.version === undefined) return { ...m, version: r.version };
    const vm = versionMoment(m.param, r.time);
    if (!vm) {
      notice(t('noTime')(r.version));
      return null;
    }
    return { ...vm, version: r.version };
  } catch (err) {
    if (err.status === 404 && state.scheme !== 'default') {
      // the scheme shown was made after that moment: the moment under the
      // default scheme, which every moment has
      const name = state.scheme;
      state.scheme = 'default';
      $('#scheme').value = 'default';
      const shown = await resolveMoment(m);
      if (shown !== null) notice(t('schemeLater')(name), 8000);
      return shown;
    }
    const gone = historyGone(err);
    if (!gone) {
      notice(err.message);
      return null;
    }
    noteGone(gone);
    notice(gone.ms === null ? t('goneUnknown') : t('gone')(whenText(gone.ms), gone.oldest), 10000);
    return null;
  }
}

// showMoment moves every view to moment m, pinned to the version it
// resolves to: tiles, legend, summary and room-state map show one state.
// When m cannot be shown, the views stay as they are.
async function showMoment(m) {
  const shown = await resolveMoment(m);
  if (shown === null) return;
  state.asOf = shown;
  setURLParam('as_of', shown.param);
  refreshViews();
}

function goLive() {
  if (!state.asOf) return;
  state.asOf = null;
  setURLParam('as_of', '');
  refreshViews();
}

// refreshViews shows every view at the current moment (after a change of
// moment, filter or scheme).
function refreshViews() {
  renderMode();
  reloadTiles();
  loadLegend().catch((err) => notice(err.message));
  loadSummary().catch((err) => notice(err.message));
  refreshTrend();
  if (state.building) openBuilding(state.building, selectedFID);
  campaigns.refresh();
  responsibility.refresh();
}

// renderMode shows whether the map is live or historical: the banner, the
// status beside the clock, the frame around the map.
function renderMode() {
  const m = state.asOf;
  $('#app').classList.toggle('historical', !!m);
  $('#asof-banner').hidden = !m;
  if (m) {
    $('#asof-moment').textContent = momentText(m);
    $('#asof-version').textContent = t('version')(m.version);
    $('#asof-date').value = m.date;
    $('#asof-time').value = m.time;
  }
  const live = $('#live');
  live.textContent = m ? t('historical') : t('live');
  live.className = `live ${m ? 'hist' : state.connected ? 'on' : 'off'}`;
  live.title = m ? t('backLive') : '';
}

function setURLParam(name, value) {
  const u = new URL(location.href);
  if (value) u.searchParams.set(name, value); else u.searchParams.delete(name);
  history.replaceState(null, '', u);
}

function initTimeControl() {
  const date = $('#asof-date');
  const time = $('#asof-time');
  date.max = today();
  date.onfocus = () => { date.max = today(); };
  // the inputs are the server's day and time: said so when the browser's
  // clock reads otherwise (its offset; on hover, its name too)
  const tz = $('#asof-tz');
  tz.hidden = sameZoneAsBrowser();
  tz.textContent = zoneOffset();
  tz.title = zoneLabel();
  const pick = (d) => { date.value = d; time.value = ''; showMoment(moment(d, '')); };
  $('#asof-go').onclick = () => showMoment(moment(date.value, time.value));
  $('#asof-yesterday').onclick = () => pick(addDays(today(), -1));
  $('#asof-week').onclick = () => pick(addDays(today(), -7));
  $('#back-live').onclick = goLive;
  $('#live').onclick = goLive;
}

// --- views: the room-state map, responsibility, campaigns ---------------------------

let campaigns; // the campaign panel (campaign.js)
let responsibility; // the responsibility panel (responsibility.js)

// setView shows the map and the side panel of view v: the scheme's colours
// (scheme), who answers for each building (responsibility) or a campaign's
// progress (campaign).
function setView(v) {
  if (!VIEWS.includes(v)) v = 'scheme';
  if (v === state.view) return;
  state.view = v;
  if (v !== 'responsibility') state.person = null;
  setURLParam('view', v === 'scheme' ? '' : v);
  renderView();
  restyleBuildings();
  setUnitFill(null);
  responsibility.active(v === 'responsibility');
  // the campaign panel loads the tiles once it knows the campaign shown
  campaigns.active(v === 'campaign');
  if (v !== 'campaign') reloadTiles();
}

function renderView() {
  $('#app').dataset.view = state.view;
  document.querySelectorAll('#views button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.view === state.view)));
  document.querySelectorAll('#side .pane').forEach((p) => { p.hidden = p.dataset.pane !== state.view; });
}

// unitChildren returns the units one level below (level, id), by id.
async function unitChildren(level, id) {
  const u = await api(`/api/v1/units/${level}/${encodeURIComponent(id)}`);
  return new Map(u.children.map((c) => [c.id, c]));
}

// the dashboard as the panels of views see it
const dash = {
  state, t, fmt, api, query, latest, notice, $,
  map: () => map,
  reloadTiles, setUnitFill, fitUnit, drawCrumbs, openBuilding, restyleBuildings, setURLParam, personColor, unitChildren,
  role: () => (state.info ? state.info.role : ''),
  setView: (v) => setView(v),
  dayText: (ms) => `${dayOf(ms)} ${timeOf(ms).slice(0, 5)}`,
  learnOffset,
};

// --- live changes ------------------------------------------------------------------

const pending = new Set();
let flushTimer = null;
let legendTimer = null;
let summaryTimer = null;
let lowZoomTimer = null;
let trendTimer = null;

async function flushChanges() {
  flushTimer = null;
  if (pending.size === 0) return;
  const ids = [...pending];
  pending.clear();
  if (state.asOf) return; // a past moment shown: live colours wait for the way back
  const gen = tilesGen;
  try {
    const r = await api('/api/v1/buildings/states', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids, where: state.where, scheme: state.scheme, ...viewParams() }),
    });
    if (state.asOf || gen !== tilesGen) return; // another view (or moment) since
    for (const b of r.buildings) {
      map.setFeatureState({ source: 'rs', sourceLayer: 'buildings', id: b.feature_id }, { color: b.color, state: b.state, person: b.person || '', team: b.team || '' });
    }
    if (state.view === 'responsibility') responsibility.updatePersons();
  } catch (err) {
    console.warn('live update:', err);
  }
}

let viewTilesTimer = null;

// reloadTilesSoon loads the tiles again within ms, once for many changes.
function reloadTilesSoon(ms) {
  if (!viewTilesTimer) viewTilesTimer = setTimeout(() => { viewTilesTimer = null; if (!state.asOf) reloadTiles(); }, ms);
}

function onChange(ev) {
  const c = JSON.parse(ev.data);
  state.lastVersion = c.version;
  // the campaigns and the coverage are of now, whatever the moment shown
  campaigns.onChange(c);
  responsibility.onChange(c);
  if (state.building && c.op === 'assign' && c.level !== 'building') openBuilding(state.building, selectedFID);
  // as of a past moment nothing moves; going back to live reloads it all
  if (state.asOf) return;
  if (c.building) {
    pending.add(c.building);
    if (!flushTimer) flushTimer = setTimeout(flushChanges, 120);
  } else if (c.op === 'assign') {
    // a grid's, community's or street's person: any building's colour
    if (state.view === 'responsibility') reloadTilesSoon(500);
  } else if (c.op === 'scheme') {
    // the scheme shown was changed: every building's colour
    if (c.id === state.scheme && state.view === 'scheme') reloadTilesSoon(500);
  } else if (!c.op) {
    // a viewer is not told which building changed: the tiles say
    reloadTilesSoon(5000);
  }
  if (!legendTimer) legendTimer = setTimeout(() => { legendTimer = null; if (!state.asOf) loadLegend(); }, 250);
  if (!summaryTimer) summaryTimer = setTimeout(() => { summaryTimer = null; if (!state.asOf) loadSummary(); }, 1500);
  // the trend is of days: once a minute is often enough, and spares the server
  if (!trendTimer) trendTimer = setTimeout(() => { trendTimer = null; if (!state.asOf) refreshTrend(); }, 60_000);
  if (state.building && c.building === state.building) openBuilding(state.building, selectedFID);
  // cells (low zoom, crowded zoom-13 tiles) aggregate many buildings: refresh those few tiles now and then
  if (map.getZoom() < 14 && !lowZoomTimer) lowZoomTimer = setTimeout(() => { lowZoomTimer = null; if (!state.asOf) reloadTiles(); }, 5000);
}

function connectChanges() {
  const es = new EventSource(`/api/v1/changes${token ? `?access_token=${encodeURIComponent(token)}` : ''}`);
  es.addEventListener('change', onChange);
  es.addEventListener('gone', () => {
    es.close();
    if (!state.asOf) { reloadTiles(); loadLegend(); }
    setTimeout(connectChanges, 500);
  });
  es.onopen = () => { state.connected = true; renderMode(); };
  es.onerror = () => { state.connected = false; renderMode(); };
}

// --- start -------------------------------------------------------------------------

async function applyFilter(where) {
  try {
    // checks the expression
    await api(`/api/v1/legend${query({ scheme: state.scheme, where, as_of: asOfParam() })}`);
  } catch (err) {
    $('#where-error').textContent = err.message;
    return;
  }
  $('#where-error').textContent = '';
  state.where = where;
  setURLParam('where', where);
  refreshViews();
}

async function main() {
  campaigns = new CampaignPanel(dash);
  responsibility = new ResponsibilityPanel(dash);
  renderView();
  applyI18n();
  try {
    state.info = await api('/api/v1/info');
  } catch (err) {
    notice(err.status === 401 ? (state.lang === 'zh' ? '需要访问令牌：请用 /?token=… 打开' : 'A token is needed: open /?token=…') : err.message);
    return;
  }
  // every day and time shown or sent is the server's (see asof.js)
  if (!setZone(state.info.tz)) learnOffset(state.info.history && state.info.history.oldest_time);
  const sel = $('#scheme');
  for (const s of state.info.schemes) {
    const o = document.createElement('option');
    o.value = o.textContent = s;
    sel.appendChild(o);
  }
  sel.value = state.scheme;
  sel.onchange = async () => {
    // as of a moment, a scheme made after it is not shown: the choice goes
    // back, and says why
    if (state.asOf) {
      try {
        await api(`/api/v1/legend${query({ scheme: sel.value, as_of: asOfParam() })}`);
      } catch (err) {
        if (err.status === 404) {
          notice(t('schemeNotThen')(sel.value), 8000);
          sel.value = state.scheme;
          return;
        }
      }
    }
    state.scheme = sel.value;
    refreshViews();
  };
  $('#where').value = state.where;
  $('#filter').onsubmit = (e) => { e.preventDefault(); applyFilter($('#where').value.trim()); };
  $('#clear-where').onclick = () => { $('#where').value = ''; applyFilter(''); };
  $('#lang').onclick = () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('roomstate.lang', state.lang);
    applyI18n();
    loadLegend();
    loadSummary();
    drawTrend();
    campaigns.render();
    responsibility.render();
    if (state.building) openBuilding(state.building, selectedFID);
  };
  document.querySelectorAll('#views button').forEach((b) => { b.onclick = () => setView(b.dataset.view); });
  $('#building-close').onclick = closeBuilding;
  initTimeControl();
  trend = new Trend($('#trend'), $('#trend-readout'));
  window.__roomstateTrend = trend; // for the end-to-end test
  // a moment in the address (?as_of=2026-11-26, a time or a version) is
  // shown from the start
  const start = momentOfParam(params.get('as_of'));
  if (start) state.asOf = await resolveMoment(start);
  renderMode();
  // a campaign named in the address that no longer runs is not asked for
  if (state.view === 'campaign') await campaigns.loadList().catch((err) => notice(err.message));
  initMap(state.info, await tileSource());
  await Promise.all([loadLegend(), loadSummary()]);
  refreshTrend();
  if (state.view !== 'scheme') {
    await new Promise((resolve) => { if (map.loaded()) resolve(); else map.once('load', resolve); });
    restyleBuildings();
    responsibility.active(state.view === 'responsibility');
    campaigns.active(state.view === 'campaign', false);
  }
  connectChanges();
  document.body.dataset.ready = '1';
}

main();

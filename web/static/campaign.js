// The campaign panel (挂图作战): choose a running campaign; see the city's
// figures (任务总量 total, 已完成 done, 剩余任务量 remaining, 日均 rate_7d,
// 预计完成 eta), a burn-down chart of remaining per day, and the streets
// ranked by remaining, drilling down to their communities and grids. The
// map shows the campaign's tiles (?campaign=NAME: remaining, done, none),
// recoloured live by the dashboard as its dwellings change, with the units
// of the table shaded by their share of tasks remaining.
//
// Numbers withheld from viewers (null) show as "—", as everywhere on the
// dashboard: never as 0.
import { Burndown, burndownSeries, COLORS } from './burndown.js';

// the level below each level of the drill-down; the city shows its streets
const BELOW = { null: 'street', street: 'community', community: 'grid' };

// the map's colours of a building in a campaign's view (tiles.Color*)
const STATE_COLORS = { remaining: '#ee7733', done: '#0077bb', none: '#bbbbbb' };

// the KPIs of the city's figures, in order
const KPIS = [['total', 'cTotal'], ['done', 'cDone'], ['remaining', 'cRemaining'], ['rate_7d', 'cRate'], ['eta', 'cEta']];

export class CampaignPanel {
  constructor(dash) {
    this.d = dash;
    this.on = false;
    this.list = null; // GET /api/v1/campaigns's campaigns
    this.data = null; // the campaign's answer at the level shown
    this.rows = []; // its units under the drill-down's unit
    this.crumbs = [{ level: null, id: null }];
    this.timer = null;
    this.chart = new Burndown(dash.$('#burndown'), dash.$('#burndown-readout'));
    window.__roomstateBurndown = this.chart; // for the end-to-end test
    const sel = dash.$('#campaign-select');
    sel.onchange = () => this.choose(sel.value);
  }

  // active shows (on) or leaves the panel; shown, it loads the list of
  // campaigns, then the map's tiles (unless reload is false: the map
  // started with them) and the campaign.
  async active(on, reload = true) {
    this.on = on;
    if (!on) {
      clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    try {
      await this.loadList();
      if (!this.on) return;
      if (reload) this.d.reloadTiles();
      await this.load();
    } catch (err) {
      this.d.notice(err.message);
    }
  }

  // loadList asks for the running campaigns and keeps the one shown if it
  // still runs, else the first (or none).
  async loadList() {
    const r = await this.d.api('/api/v1/campaigns');
    this.list = r.campaigns;
    const st = this.d.state;
    if (!this.list.some((c) => c.name === st.campaign)) {
      st.campaign = this.list.length ? this.list[0].name : '';
      this.d.setURLParam('campaign', st.campaign);
    }
    this.renderList();
  }

  renderList() {
    const sel = this.d.$('#campaign-select');
    sel.innerHTML = '';
    for (const c of this.list || []) {
      const o = document.createElement('option');
      o.value = c.name;
      o.textContent = c.label ? `${c.label}（${c.name}）` : c.name;
      if (this.d.state.lang === 'en' && c.label) o.textContent = `${c.label} (${c.name})`;
      sel.appendChild(o);
    }
    sel.value = this.d.state.campaign;
    sel.hidden = !this.list || this.list.length === 0;
  }

  // choose shows campaign name: its tiles and its figures, from the city.
  choose(name) {
    const st = this.d.state;
    if (name === st.campaign) return;
    st.campaign = name;
    this.d.setURLParam('campaign', name);
    this.crumbs = [{ level: null, id: null }];
    this.d.reloadTiles();
    this.load().catch((err) => this.d.notice(err.message));
  }

  // load asks for the campaign at the level below the drill-down's unit and
  // keeps that unit's children.
  async load() {
    const current = this.d.latest(this.load);
    const name = this.d.state.campaign;
    if (!name) {
      this.data = null;
      this.rows = [];
      this.render();
      return;
    }
    const here = this.crumbs[this.crumbs.length - 1];
    const level = BELOW[here.level];
    const [c, kids] = await Promise.all([
      this.d.api(`/api/v1/campaigns/${encodeURIComponent(name)}?level=${level}`),
      here.level ? this.d.unitChildren(here.level, here.id) : null,
    ]);
    if (!current()) return;
    this.d.learnOffset(c.created);
    this.data = c;
    this.rows = kids ? c.units.filter((u) => kids.has(u.id)) : c.units;
    // most remaining first; a withheld count (from 1 to k−1) after every
    // shown one above 0; ties by id
    const key = (v) => (v === null ? 0.5 : v);
    this.rows.sort((a, b) => key(b.remaining) - key(a.remaining) || key(b.total) - key(a.total) || (a.id < b.id ? -1 : 1));
    this.render();
  }

  // refresh loads the campaign again (a change of moment or of data).
  refresh() {
    if (this.on) this.load().catch((err) => console.warn('campaign:', err));
  }

  // onChange takes a change from the feed: a campaign started or ended
  // reloads the list; any other change may move the figures, which are
  // asked for again at most once a second.
  onChange(c) {
    if (!this.on) return;
    if (c.op === 'campaign' || c.op === 'campaign_end') {
      const before = this.d.state.campaign;
      this.loadList().then(() => {
        if (this.d.state.campaign !== before) {
          this.crumbs = [{ level: null, id: null }];
          this.d.reloadTiles();
        }
        return this.load();
      }).catch((err) => console.warn('campaign:', err));
      return;
    }
    if (c.op === 'assign' || c.op === 'visit' || c.op === 'scheme') return;
    if (!this.timer) this.timer = setTimeout(() => { this.timer = null; this.refresh(); }, 1000);
  }

  render() {
    if (!this.on) return;
    const { t, fmt, $ } = this.d;
    const st = this.d.state;
    this.renderList();
    const c = this.data;
    $('#campaign-none').hidden = !(this.list && this.list.length === 0);
    $('#campaign-body').hidden = !c;
    $('#burndown-section').hidden = !c;
    if (!c) {
      $('#campaign-def').textContent = '';
      $('#campaign-units tbody').innerHTML = '';
      $('#campaign-crumbs').innerHTML = '';
      $('#campaign-rank').textContent = '';
      this.chart.clear();
      this.d.setUnitFill(null);
      return;
    }
    const created = c.created.slice(0, 10);
    $('#campaign-def').textContent = `${t('cDates')(created, c.deadline)} · ${t('cDef')(c)}`
      + (c.removed ? ` · ${t('cRemoved')(fmt(c.removed))}` : '');
    // the city's figures
    const kpis = $('#campaign-kpis');
    kpis.innerHTML = '';
    for (const [k, label] of KPIS) {
      const div = document.createElement('div');
      div.className = 'kpi';
      div.dataset.k = k;
      div.innerHTML = '<span class="v"></span><span class="k"></span>';
      div.querySelector('.v').textContent = this.value(k, c);
      div.querySelector('.k').textContent = t(label);
      kpis.appendChild(div);
    }
    const bar = $('#campaign-progress');
    const share = c.total && c.done !== null ? c.done / c.total : null;
    bar.hidden = share === null;
    bar.firstElementChild.style.width = `${Math.round((share || 0) * 1000) / 10}%`;
    bar.title = share === null ? '' : `${Math.round(share * 1000) / 10}%`;
    const lg = $('#campaign-legend');
    lg.innerHTML = '';
    for (const [s, label] of [['remaining', 'stRemaining'], ['done', 'stDone'], ['none', 'stNone']]) {
      const li = document.createElement('li');
      li.dataset.state = s;
      li.innerHTML = `<i class="swatch" style="background:${STATE_COLORS[s]}"></i><span></span>`;
      li.querySelector('span').textContent = t(label);
      lg.appendChild(li);
    }
    lg.hidden = !!st.asOf;
    $('#campaign-note').textContent = st.asOf ? t('campaignHist') : '';
    // the burn-down
    const drawn = this.chart.draw(burndownSeries(c), { remaining: t('bdRemaining'), ideal: t('bdIdeal'), forecast: t('bdForecast') }, st.lang);
    $('#burndown-note').textContent = drawn ? '' : t('bdWithheld');
    const bl = $('#burndown-legend');
    bl.innerHTML = '';
    bl.hidden = !drawn;
    const lines = [['remaining', 'bdRemaining', 'solid'], ...(c.deadline ? [['ideal', 'bdIdeal', 'dashed']] : []),
      ...(c.eta ? [['forecast', 'bdForecast', 'dotted']] : [])];
    for (const [k, label, style] of lines) {
      const li = document.createElement('li');
      li.innerHTML = `<i class="line ${style}" style="border-color:${COLORS[k]}"></i><span></span>`;
      li.querySelector('span').textContent = t(label);
      if (k === 'remaining') li.title = t('bdRemainingNote');
      bl.appendChild(li);
    }
    this.renderUnits();
  }

  // value formats figure k of a campaign or unit: counts and the daily
  // rate as numbers, eta as its date ("done" when nothing remains);
  // withheld or unknown, "—".
  value(k, u) {
    const { t, fmt } = this.d;
    const v = u[k];
    if (k === 'eta') return v || (u.remaining === 0 ? t('cFinished') : '—');
    if (k === 'rate_7d') {
      return v === null || v === undefined ? '—'
        : v.toLocaleString(this.d.state.lang === 'zh' ? 'zh-CN' : 'en-US', { maximumFractionDigits: 1 });
    }
    return fmt(v);
  }

  renderUnits() {
    const { t, $ } = this.d;
    const c = this.data;
    $('#campaign-rank').textContent = t('cRank')(c.level);
    this.d.drawCrumbs($('#campaign-crumbs'), this.crumbs, (i, cr) => {
      this.crumbs = this.crumbs.slice(0, i + 1);
      this.load().catch((err) => this.d.notice(err.message));
      if (cr.level) this.d.fitUnit(cr.level, cr.id);
    });
    const tbody = $('#campaign-units tbody');
    tbody.innerHTML = '';
    const fill = new Map();
    for (const u of this.rows) {
      const tr = document.createElement('tr');
      tr.dataset.id = u.id;
      const name = document.createElement('td');
      name.textContent = u.name || u.id;
      tr.appendChild(name);
      for (const k of ['total', 'done', 'remaining', 'rate_7d', 'eta']) {
        const td = document.createElement('td');
        td.dataset.k = k;
        td.textContent = this.value(k, u);
        tr.appendChild(td);
      }
      if (BELOW[u.level]) {
        tr.onclick = () => {
          this.crumbs.push({ level: u.level, id: u.id, name: u.name });
          this.d.fitUnit(u.level, u.id);
          this.load().catch((err) => this.d.notice(err.message));
        };
      } else {
        tr.classList.add('leaf');
        tr.onclick = () => this.d.fitUnit(u.level, u.id);
      }
      tbody.appendChild(tr);
      if (u.total) fill.set(u.id, shade(u.remaining === null ? null : u.remaining / u.total));
    }
    // the units' shading says nothing of a past moment
    this.d.setUnitFill(this.d.state.asOf ? null : c.level, fill);
  }
}

// shade is a unit's colour by its share of tasks remaining: from the done
// blue (none left) to the remaining orange (all); unknown, clear.
function shade(share) {
  if (share === null || Number.isNaN(share)) return 'rgba(0,0,0,0)';
  const mix = (a, b) => Math.round(a + (b - a) * share);
  return `rgba(${mix(0x00, 0xee)},${mix(0x77, 0x77)},${mix(0xbb, 0x33)},0.3)`;
}

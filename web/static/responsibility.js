// The responsibility panel (楼组包干图): the map by person (?view=
// responsibility tiles: each building in its responsible person's colour,
// unassigned buildings grey with a red ring), a legend of the persons
// answering for the buildings in view (at city zoom, for analysts, the
// persons of the city's assignments), coverage per unit (buildings assigned
// and unassigned, dwellings in unassigned buildings, assigned buildings not
// visited within a chosen period) from the streets down to the grids, and a
// person's workload on a click (analysts and above: it lists phones).
//
// Numbers withheld from viewers (null) show as "—", never as 0.

const BELOW = { null: 'street', street: 'community', community: 'grid' };
const STALE = ['', '1d', '3d', '7d', '14d', '30d'];
const LEVEL_RANK = { street: 0, community: 1, grid: 2, building: 3 };
const MIN_BUILDING_ZOOM = 13; // the tiles' buildings layer
const LIST = 12; // persons listed at most
export const UNASSIGNED_COLOR = '#dddddd'; // tiles.ColorUnassigned

export class ResponsibilityPanel {
  constructor(dash) {
    this.d = dash;
    this.on = false;
    this.crumbs = [{ level: null, id: null }];
    this.data = null; // the coverage answer at the level shown
    this.rows = []; // its units under the drill-down's unit
    const s = new URLSearchParams(location.search).get('stale');
    this.stale = STALE.includes(s) ? s : '7d';
    this.work = null; // the workload shown: GET /api/v1/persons/{person}
    this.city = null; // persons of the city's assignments (analysts), for city zoom
    this.timer = null;
    this.onIdle = () => this.updatePersons();
    dash.$('#stale').onchange = (e) => {
      this.stale = e.target.value;
      dash.setURLParam('stale', this.stale === '7d' ? '' : this.stale || 'none');
      this.refresh();
    };
    if (s === 'none') this.stale = '';
    dash.$('#person-close').onclick = () => this.closePerson();
  }

  analyst() { return this.d.role() !== 'viewer'; }

  // active shows (on) or leaves the panel.
  active(on) {
    const map = this.d.map();
    if (on === this.on) return;
    this.on = on;
    if (!on) {
      if (map) map.off('idle', this.onIdle);
      clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    if (map) map.on('idle', this.onIdle);
    this.city = null;
    this.render();
    this.refresh();
    if (this.work) {
      this.d.state.person = this.work.person;
      this.d.restyleBuildings();
    }
  }

  // refresh asks for the coverage again, and the workload shown (after a
  // change of filter, period or data).
  refresh() {
    if (!this.on) return;
    this.loadCoverage().catch((err) => this.d.notice(err.message));
    if (this.work) this.showPerson(this.work.person, false);
  }

  async loadCoverage() {
    const current = this.d.latest(this.loadCoverage);
    const st = this.d.state;
    const here = this.crumbs[this.crumbs.length - 1];
    const level = BELOW[here.level];
    const [r, kids] = await Promise.all([
      this.d.api(`/api/v1/responsibility${this.d.query({ level, where: st.where, stale: this.stale })}`),
      here.level ? this.d.unitChildren(here.level, here.id) : null,
    ]);
    if (!current()) return;
    this.data = r;
    this.rows = kids ? r.units.filter((u) => kids.has(u.id)) : r.units;
    // where nobody looks first: the most flagged dwellings in unassigned
    // buildings, then the most unassigned buildings, the most not visited;
    // a withheld count (1 to k−1) above 0 and below every shown one
    const key = (v) => (v === null ? 0.5 : v || 0);
    this.rows.sort((a, b) => key(b.matched_unassigned) - key(a.matched_unassigned) || key(b.unassigned) - key(a.unassigned)
      || key(b.stale) - key(a.stale) || (a.id < b.id ? -1 : 1));
    this.renderCoverage();
  }

  // onChange takes a change from the feed: assignments and visits move the
  // coverage (and the legend at city zoom, and a workload shown), any
  // change of a dwelling its counts.
  onChange(c) {
    if (!this.on) return;
    if (c.op === 'campaign' || c.op === 'campaign_end' || c.op === 'scheme') return;
    if (c.op === 'assign') this.city = null;
    const ms = c.op ? 500 : 1500;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.refresh();
        if (this.city === null) this.updatePersons();
      }, ms);
    }
  }

  render() {
    if (!this.on) return;
    const { t, $ } = this.d;
    const sel = $('#stale');
    sel.innerHTML = '';
    for (const v of STALE) {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v ? t('staleDays')(parseInt(v, 10)) : t('staleOff');
      sel.appendChild(o);
    }
    sel.value = this.stale;
    if (this.data) this.renderCoverage();
    this.updatePersons();
    if (this.work) this.renderPerson();
  }

  renderCoverage() {
    const { t, fmt, $ } = this.d;
    const st = this.d.state;
    const mu = $('#coverage-mu');
    mu.textContent = st.where ? t('muColWhere') : t('muCol');
    mu.title = st.where ? t('muTitleWhere')(st.where) : t('muTitle');
    $('#coverage').classList.toggle('no-stale', !this.stale);
    $('#coverage-note').textContent = st.asOf ? t('coverageNow') : '';
    this.d.drawCrumbs($('#coverage-crumbs'), this.crumbs, (i, cr) => {
      this.crumbs = this.crumbs.slice(0, i + 1);
      this.refresh();
      if (cr.level) this.d.fitUnit(cr.level, cr.id);
    });
    const tbody = $('#coverage tbody');
    tbody.innerHTML = '';
    const fill = new Map();
    for (const u of this.rows) {
      const tr = document.createElement('tr');
      tr.dataset.id = u.id;
      const name = document.createElement('td');
      name.textContent = u.name || u.id;
      tr.appendChild(name);
      for (const k of ['buildings', 'assigned', 'unassigned', 'matched_unassigned', 'stale']) {
        const td = document.createElement('td');
        td.dataset.k = k;
        td.textContent = fmt(u[k]);
        if (k === 'unassigned' && u[k]) td.classList.add('warn');
        tr.appendChild(td);
      }
      tr.onclick = () => {
        this.d.fitUnit(u.level, u.id);
        if (!BELOW[u.level]) return;
        this.crumbs.push({ level: u.level, id: u.id, name: u.name });
        this.refresh();
      };
      if (!BELOW[u.level]) tr.classList.add('leaf');
      tbody.appendChild(tr);
      if (u.unassigned && u.buildings) fill.set(u.id, `rgba(255,90,79,${(0.08 + 0.3 * (u.unassigned / u.buildings)).toFixed(3)})`);
    }
    this.d.setUnitFill(this.data.level, fill);
  }

  // updatePersons lists who answers for the buildings in view, with how
  // many of them each, and the unassigned ones; below the buildings' zoom,
  // or where a crowded tile in view draws cells, the persons of the city's
  // assignments (analysts) or a hint.
  updatePersons() {
    const map = this.d.map();
    if (!this.on || !map) return;
    const { t, $ } = this.d;
    const ul = $('#persons');
    const caption = $('#persons-caption');
    if (map.getZoom() < MIN_BUILDING_ZOOM || map.queryRenderedFeatures({ layers: ['cells'] }).length > 0) {
      if (this.analyst() && this.city === null) {
        this.city = [];
        this.loadCity().catch((err) => console.warn('persons:', err));
      }
      const list = this.analyst() ? this.city || [] : [];
      caption.textContent = list.length ? `${t('personsCity')(list.length)} · ${t('personsZoom')}` : t('personsZoom');
      this.renderPersons(ul, list.map((p) => ({ ...p, color: this.d.personColor(p.person) })), null);
      return;
    }
    const seen = new Set();
    const by = new Map();
    let unassigned = 0;
    for (const f of map.queryRenderedFeatures({ layers: ['buildings'] })) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
      const fs = f.state || {};
      const state = fs.state ?? f.properties.state;
      const person = fs.person ?? f.properties.person;
      if (state === 'unassigned' || !person) {
        unassigned++;
        continue;
      }
      const e = by.get(person) || { person, teams: new Map(), color: fs.color ?? f.properties.color, n: 0 };
      const team = fs.team ?? f.properties.team ?? '';
      e.teams.set(team, (e.teams.get(team) || 0) + 1);
      e.n++;
      by.set(person, e);
    }
    caption.textContent = t('personsInView')(by.size, seen.size);
    // each person's team: the one most of their buildings in view come through
    for (const e of by.values()) e.team = [...e.teams].sort((a, b) => b[1] - a[1])[0][0];
    const list = [...by.values()].sort((a, b) => b.n - a.n || (a.person < b.person ? -1 : 1));
    this.renderPersons(ul, list, unassigned);
  }

  // loadCity groups the city's assignments by person: the highest level
  // each answers for first, then the most units.
  async loadCity() {
    const r = await this.d.api('/api/v1/assignments');
    const by = new Map();
    for (const a of r.assignments) {
      const e = by.get(a.person) || { person: a.person, team: a.team, rank: 9, units: 0, level: a.level };
      e.units++;
      if (LEVEL_RANK[a.level] < e.rank) Object.assign(e, { rank: LEVEL_RANK[a.level], level: a.level, team: a.team || e.team });
      by.set(a.person, e);
    }
    this.city = [...by.values()].sort((a, b) => a.rank - b.rank || b.units - a.units || (a.person < b.person ? -1 : 1));
    this.updatePersons();
  }

  renderPersons(ul, list, unassigned) {
    const { t } = this.d;
    ul.innerHTML = '';
    const chosen = this.work ? this.work.person : null;
    for (const p of list.slice(0, LIST)) {
      const li = document.createElement('li');
      li.dataset.person = p.person;
      li.dataset.color = p.color;
      li.innerHTML = '<i class="swatch"></i><span class="name"></span><span class="team"></span><span class="n"></span>';
      li.querySelector('.swatch').style.background = p.color;
      li.querySelector('.name').textContent = p.person;
      li.querySelector('.team').textContent = p.team || '';
      li.querySelector('.n').textContent = p.n !== undefined ? t('personBuildings')(p.n) : `${t(p.level)}`;
      if (p.person === chosen) li.classList.add('chosen');
      // a viewer's click says why no workload shows
      li.onclick = () => this.showPerson(p.person);
      if (!this.analyst()) {
        li.title = t('personOnlyAnalyst');
        li.classList.add('locked');
      }
      ul.appendChild(li);
    }
    if (list.length > LIST) {
      const li = document.createElement('li');
      li.className = 'more';
      li.textContent = t('personsMore')(list.length - LIST);
      ul.appendChild(li);
    }
    if (unassigned !== null) {
      const li = document.createElement('li');
      li.className = 'unassigned';
      li.dataset.person = '';
      li.innerHTML = `<i class="swatch unassigned" style="background:${UNASSIGNED_COLOR}"></i><span class="name"></span><span class="team"></span><span class="n"></span>`;
      li.querySelector('.name').textContent = t('unassigned');
      li.querySelector('.n').textContent = t('personBuildings')(unassigned);
      ul.appendChild(li);
    }
  }

  // showPerson shows person's workload (analysts and above) and marks
  // their buildings on the map.
  async showPerson(person, mark = true) {
    if (!this.analyst()) {
      this.d.notice(this.d.t('personOnlyAnalyst'));
      return;
    }
    const current = this.d.latest(this.showPerson);
    let r;
    try {
      r = await this.d.api(`/api/v1/persons/${encodeURIComponent(person)}${this.d.query({ where: this.d.state.where })}`);
    } catch (err) {
      if (!current()) return;
      this.closePerson();
      this.d.notice(err.message);
      return;
    }
    if (!current()) return;
    this.work = r;
    if (mark) {
      this.d.state.person = person;
      this.d.restyleBuildings();
    }
    this.renderPerson();
    this.updatePersons();
  }

  renderPerson() {
    const { t, fmt, $ } = this.d;
    const r = this.work;
    const st = this.d.state;
    $('#person-card').hidden = false;
    const h = $('#person-name');
    h.innerHTML = `<i class="swatch" style="background:${this.d.personColor(r.person)}"></i><span></span>`;
    h.querySelector('span').textContent = r.person;
    const units = $('#person-units');
    units.innerHTML = '';
    for (const u of r.units) {
      const li = document.createElement('li');
      li.dataset.level = u.level;
      li.dataset.id = u.id;
      li.textContent = [`${t(u.level)} ${u.id}`, u.team, u.phone].filter(Boolean).join(' · ');
      units.appendChild(li);
    }
    const kpis = $('#person-kpis');
    kpis.innerHTML = '';
    const figures = [['buildings', 'workloadBuildings', r.buildings.length], ['total', 'workloadDwellings', r.total]];
    if (st.where) figures.push(['matched', 'workloadMatched', r.matched]);
    for (const [k, label, v] of figures) {
      const div = document.createElement('div');
      div.className = 'kpi';
      div.dataset.k = k;
      div.innerHTML = '<span class="v"></span><span class="k"></span>';
      div.querySelector('.v').textContent = fmt(v);
      div.querySelector('.k').textContent = t(label);
      kpis.appendChild(div);
    }
    // without a filter every dwelling matches: no column of it
    $('#person-buildings').classList.toggle('no-where', !st.where);
    const tbody = $('#person-buildings tbody');
    tbody.innerHTML = '';
    for (const b of r.buildings) {
      const tr = document.createElement('tr');
      tr.dataset.id = b.id;
      for (const [k, v] of [['id', b.id], ['total', fmt(b.total)], ['matched', fmt(b.matched)], ['via', `${t(b.level)} ${b.unit}`]]) {
        const td = document.createElement('td');
        td.dataset.k = k;
        td.textContent = v;
        tr.appendChild(td);
      }
      tr.onclick = () => this.d.openBuilding(b.id, undefined, true);
      tbody.appendChild(tr);
    }
  }

  closePerson() {
    this.work = null;
    this.d.$('#person-card').hidden = true;
    if (this.d.state.person !== null) {
      this.d.state.person = null;
      this.d.restyleBuildings();
    }
    this.updatePersons();
  }
}

package answer

import (
	"strconv"
	"strings"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/table"
	"github.com/valyala/fastjson"
)

// Exports: the answers with a row per unit or cell (units, a unit's
// children, polygon groups, grid cells, coverage of responsibility, a
// campaign's units) as CSV or XLSX files.
//
// A file is made from the JSON answer itself: the answer is computed as for
// JSON, through the caller's privacy policy, and its rows are read back into
// a table. So a file holds exactly the JSON's numbers, and a count the JSON
// withholds (null) is an empty cell, whatever the policy does now or later:
// no second path computes counts for files. To export a new answer, list its
// columns ([]column) and call a.export with its JSON; see UnitsFile.

// Format is the form an answer is asked for in (?format=).
type Format uint8

// The formats.
const (
	JSON Format = iota // the answer as JSON (the default)
	CSV                // the answer's rows as CSV
	XLSX               // the answer's rows as an XLSX workbook
)

// Media types of the file formats.
const (
	MediaCSV  = "text/csv; charset=utf-8"
	MediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// ParseFormat reads a format parameter: "" or json, csv, xlsx.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "json":
		return JSON, nil
	case "csv":
		return CSV, nil
	case "xlsx":
		return XLSX, nil
	}
	return JSON, fault.New(fault.BadRequest, "format %q: want json, csv or xlsx", s)
}

// File is an answer as a file to download.
type File struct {
	Body      []byte
	MediaType string // MediaCSV or MediaXLSX
	Name      string // the file's name in the caller's language (UTF-8), with its extension
	ASCIIName string // the same in ASCII, for clients that read no other
}

// lang is the language of a file's headers and names.
type lang uint8

const (
	zh lang = iota // Chinese, the default
	en
)

// parseLang reads ?lang=: zh (the default) or en, with any region.
func parseLang(s string) (lang, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "" || l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_"):
		return zh, nil
	case l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_"):
		return en, nil
	}
	return zh, fault.New(fault.BadRequest, "lang %q: want zh (Chinese headers, the default) or en", s)
}

// levelZH names the levels in Chinese, as headers and file names use them.
var levelZH = [...]string{"区", "街道", "社区", "网格", "楼栋"}

// levelName returns a level's name in l; plural for a list in English.
func levelName(lv engine.Level, l lang, plural bool) string {
	if l == zh {
		if int(lv) < len(levelZH) {
			return levelZH[lv]
		}
		return lv.String()
	}
	s := lv.String()
	if plural {
		switch lv {
		case engine.LevelStreet, engine.LevelCommunity:
			s = map[engine.Level]string{engine.LevelStreet: "streets", engine.LevelCommunity: "communities"}[lv]
		default:
			s += "s"
		}
	}
	return s
}

// column is one column of an exported table, read from each row object of
// an answer's JSON.
type column struct {
	key    string // the row's member; "flags" (and "delta") expand to several columns
	zh, en string // headers
	count  bool   // a count (a number, or null when withheld)
	number bool   // a decimal number (a rate; null: an empty cell)
	// text, when set, gives a text cell instead of the member (names looked
	// up for rows that carry none)
	text func(row *fastjson.Value) string
}

// Members that expand to several columns.
const (
	flagsKey = "flags" // one count column per flag, in the answer's order
	deltaKey = "delta" // total, matched and flags of the row's delta, when rows carry one
)

// unitColumns are the columns of every unit and cell table: id, name, total,
// matched and one per flag, then the change since ?since= when asked.
func unitColumns(name func(*fastjson.Value) string) []column {
	return []column{
		{key: "id", zh: "编号", en: "id"},
		{key: "name", zh: "名称", en: "name", text: name},
		{key: "total", zh: "总户数", en: "total", count: true},
		{key: "matched", zh: "符合条件户数", en: "matched", count: true},
		{key: flagsKey, count: true},
		{key: deltaKey, count: true},
	}
}

// exporter turns the rows of one JSON answer into sheets.
type exporter struct {
	lang  lang
	flags []string // the answer's flags, in its order
	zhOf  map[string]string
}

// newExporter reads the flags of an answer from the first of objs with a
// flags member (the answer's own order), else the engine's; their Chinese
// headers are the default scheme's labels as of the answer's version.
func (a *Answers) newExporter(l lang, version uint64, objs ...*fastjson.Value) *exporter {
	x := &exporter{lang: l}
	for _, o := range objs {
		if fo := o.GetObject(flagsKey); fo != nil {
			fo.Visit(func(k []byte, _ *fastjson.Value) { x.flags = append(x.flags, string(k)) })
			break
		}
	}
	if x.flags == nil {
		x.flags = a.eng.Flags()
	}
	var at engine.AsOf // an answer without a version: the labels of now
	if version > 0 {
		at = engine.At(engine.Version(version))
	}
	x.zhOf = a.flagLabels(at)
	return x
}

// flagLabels returns the Chinese label of each flag that a rule of the
// default scheme as of at names alone (when: "isolated" → 居家隔离).
func (a *Answers) flagLabels(at engine.AsOf) map[string]string {
	out := map[string]string{}
	sc, _, err := a.eng.SchemeAsOf("default", at)
	if err != nil { // history trimmed meanwhile: the labels of now
		var ok bool
		if sc, ok = a.eng.Scheme("default"); !ok {
			return out
		}
	}
	for _, r := range sc.Rules {
		if w := strings.TrimSpace(r.When); w != "" && r.Label != "" && out[w] == "" {
			out[w] = r.Label
		}
	}
	return out
}

// flagHeader is a flag's column header: its own name in English; in
// Chinese the default scheme's label for it, else its name.
func (x *exporter) flagHeader(f string) string {
	if x.lang == zh && x.zhOf[f] != "" {
		return x.zhOf[f]
	}
	return f
}

// header returns the header of col in the exporter's language.
func (x *exporter) header(c column) string {
	if x.lang == en {
		return c.en
	}
	return c.zh
}

// sheet lays rows (objects of a JSON answer) out in cols.
func (x *exporter) sheet(name string, rows []*fastjson.Value, cols []column) table.Sheet {
	hasDelta := false
	for _, r := range rows {
		if r.Get(deltaKey) != nil {
			hasDelta = true
			break
		}
	}
	sh := table.Sheet{Name: name}
	type reader func(row *fastjson.Value) table.Cell
	var read []reader
	add := func(h string, kind table.Kind, f reader) {
		sh.Columns = append(sh.Columns, table.Column{Header: h, Kind: kind})
		read = append(read, f)
	}
	for _, c := range cols {
		switch {
		case c.key == flagsKey:
			for _, f := range x.flags {
				add(x.flagHeader(f), table.Count, func(r *fastjson.Value) table.Cell { return countCell(r.Get(flagsKey, f)) })
			}
		case c.key == deltaKey:
			if !hasDelta {
				continue
			}
			suffix, prefix := "变化", ""
			if x.lang == en {
				suffix, prefix = "", "delta_"
			}
			hd := func(zhName, enName string) string {
				if x.lang == en {
					return prefix + enName
				}
				return zhName + suffix
			}
			add(hd("总户数", "total"), table.Count, func(r *fastjson.Value) table.Cell { return countCell(r.Get(deltaKey, "total")) })
			add(hd("符合条件户数", "matched"), table.Count, func(r *fastjson.Value) table.Cell { return countCell(r.Get(deltaKey, "matched")) })
			for _, f := range x.flags {
				add(hd(x.flagHeader(f), f), table.Count, func(r *fastjson.Value) table.Cell { return countCell(r.Get(deltaKey, flagsKey, f)) })
			}
		case c.text != nil:
			add(x.header(c), table.Text, func(r *fastjson.Value) table.Cell { return table.TextCell(c.text(r)) })
		case c.count:
			add(x.header(c), table.Count, func(r *fastjson.Value) table.Cell { return countCell(r.Get(c.key)) })
		case c.number:
			add(x.header(c), table.Number, func(r *fastjson.Value) table.Cell { return numberCell(r.Get(c.key)) })
		default:
			add(x.header(c), table.Text, func(r *fastjson.Value) table.Cell { return table.TextCell(textOf(r.Get(c.key))) })
		}
	}
	sh.Rows = make([][]table.Cell, len(rows))
	for i, r := range rows {
		row := make([]table.Cell, len(read))
		for j, f := range read {
			row[j] = f(r)
		}
		sh.Rows[i] = row
	}
	return sh
}

// countCell reads a count as the JSON shows it: a number, or null (or
// nothing) when withheld.
func countCell(v *fastjson.Value) table.Cell {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return table.CountCell(privacy.Value{Withheld: true})
	}
	return table.CountCell(privacy.Value{N: v.GetInt64()})
}

// textOf reads a text member: a string as it is, a number as written.
func textOf(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNull:
		return ""
	}
	return string(v.MarshalTo(nil))
}

// exportQuery reads the parameters every file takes: format and lang.
func exportQuery(q Query) (Format, lang, error) {
	f, err := ParseFormat(q.Get("format"))
	if err != nil {
		return f, zh, err
	}
	if f == JSON {
		return f, zh, fault.New(fault.BadRequest, "format: want csv or xlsx for a file")
	}
	l, err := parseLang(q.Get("lang"))
	return f, l, err
}

// parsedAnswer is a JSON answer read back, with its version.
type parsedAnswer struct {
	p       *fastjson.Parser
	root    *fastjson.Value
	version uint64
}

// exportAnswer is the start of every export: the format and language q
// asks for (checked before any work), the JSON answer, parsed. The caller
// releases pa with a.parsers.Put(pa.p).
func (a *Answers) exportAnswer(q Query, answer func() ([]byte, error)) (Format, lang, *parsedAnswer, error) {
	f, l, err := exportQuery(q)
	if err != nil {
		return f, l, nil, err
	}
	body, err := answer()
	if err != nil {
		return f, l, nil, err
	}
	pa, err := a.readAnswer(body)
	return f, l, pa, err
}

// readAnswer parses an answer the caller releases with a.parsers.Put(pa.p).
func (a *Answers) readAnswer(body []byte) (*parsedAnswer, error) {
	p := a.parsers.Get()
	v, err := p.ParseBytes(body)
	if err != nil { // the answers write valid JSON: a bug
		a.parsers.Put(p)
		return nil, err
	}
	return &parsedAnswer{p: p, root: v, version: v.GetUint64("version")}, nil
}

// fileName is a file's name in both forms, without the extension.
type fileName struct {
	zh, en string
}

// MaxFileRows bounds the rows of an exported file's table: a file of the
// largest answers (half a million grid cells) would take the server
// hundreds of MiB to write and no spreadsheet would open it gladly.
const MaxFileRows = 200_000

// export writes t in format f, named for the caller's language.
func export(t *table.Table, f Format, l lang, name fileName) (*File, error) {
	if len(t.Sheets) > 0 && len(t.Sheets[0].Rows) > MaxFileRows {
		return nil, fault.New(fault.TooLarge, "%d rows; a file holds at most %d: narrow the area, use larger cells or a higher level", len(t.Sheets[0].Rows), MaxFileRows)
	}
	out := &File{}
	ext := ".csv"
	switch f {
	case CSV:
		out.Body, out.MediaType = t.CSV(), MediaCSV
	case XLSX:
		b, err := t.XLSX()
		if err != nil {
			return nil, err
		}
		out.Body, out.MediaType, ext = b, MediaXLSX, ".xlsx"
	}
	out.Name = name.zh + ext
	if l == en {
		out.Name = name.en + ext
	}
	out.ASCIIName = asciiName(name.en) + ext
	return out, nil
}

// asciiName keeps the parts of an English file name that are plain ASCII
// (letters, digits, ., _ and -); an id in Chinese is left out whole rather
// than turned into underscores.
func asciiName(s string) string {
	var parts []string
	for _, p := range strings.Split(s, "-") {
		ok := p != ""
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
				ok = false
				break
			}
		}
		if ok {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "roomstate"
	}
	return strings.Join(parts, "-")
}

// versionSuffix is a file name's version part.
func versionSuffix(v uint64) string { return "v" + strconv.FormatUint(v, 10) }

// UnitsFile answers GET /api/v1/units/{level}?format=csv|xlsx: the JSON
// answer's units, one row each.
func (a *Answers) UnitsFile(level string, q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Units(level, q, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	lv, _ := engine.ParseLevel(level) // Units checked it
	rows := pa.root.GetArray("units")
	x := a.newExporter(l, pa.version, rows...)
	t := &table.Table{Sheets: []table.Sheet{x.sheet(levelName(lv, l, true), rows, unitColumns(nil))}}
	v := versionSuffix(pa.version)
	return export(t, f, l, fileName{
		zh: levelName(lv, zh, false) + "汇总_" + v,
		en: "units-" + lv.String() + "-" + v,
	})
}

// UnitFile answers GET /api/v1/units/{level}/{id}?format=csv|xlsx: the
// unit's children, one row each; a workbook adds a sheet of the unit
// itself. A building, which has no children, is its own one row.
func (a *Answers) UnitFile(level, id string, q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Unit(level, id, q, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	lv, _ := engine.ParseLevel(level) // Unit checked it
	child := lv + 1
	rows := pa.root.GetArray("children")
	x := a.newExporter(l, pa.version, pa.root)
	unitSheet := levelName(lv, l, false) + "合计"
	if l == en {
		unitSheet = lv.String() + " total"
	}
	name := textOf(pa.root.Get("name"))
	if name == "" {
		name = id
	}
	v := versionSuffix(pa.version)
	if lv == engine.LevelBuilding {
		// a building has no units below it: its one row
		t := &table.Table{Sheets: []table.Sheet{x.sheet(levelName(lv, l, false), []*fastjson.Value{pa.root}, unitColumns(nil))}}
		return export(t, f, l, fileName{zh: levelName(lv, zh, false) + "_" + name + "_" + v, en: lv.String() + "-" + id + "-" + v})
	}
	t := &table.Table{Sheets: []table.Sheet{
		x.sheet(levelName(child, l, true), rows, unitColumns(nil)),
		x.sheet(unitSheet, []*fastjson.Value{pa.root}, unitColumns(nil)),
	}}
	return export(t, f, l, fileName{
		zh: levelName(lv, zh, false) + "_" + name + "_" + levelName(child, zh, false) + "汇总_" + v,
		en: lv.String() + "-" + id + "-" + levelName(child, en, true) + "-" + v,
	})
}

// PolygonFile answers POST /api/v1/query/polygon?format=csv|xlsx for a
// query with group_by: one row per group (named from the units), and in a
// workbook a sheet of the polygon's totals.
func (a *Answers) PolygonFile(body []byte, q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Polygon(body, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	groups := pa.root.Get("groups")
	if groups == nil {
		return nil, fault.New(fault.BadRequest, "format=%s needs group_by (district, street, community, grid or building): a file has one row per group", q.Get("format"))
	}
	rows, _ := groups.Array()
	lv := engine.LevelBuilding
	if len(rows) > 0 {
		lv, _ = engine.ParseLevel(textOf(rows[0].Get("level")))
	} else if p2, o, err := a.parseBody(body); err == nil { // no group: the level from the query
		lv, _ = engine.ParseLevel(string(o.Get("group_by").GetStringBytes()))
		a.parsers.Put(p2)
	}
	names := a.unitNames(lv)
	x := a.newExporter(l, pa.version, pa.root)
	totalCols := []column{
		{key: "total", zh: "总户数", en: "total", count: true},
		{key: "matched", zh: "符合条件户数", en: "matched", count: true},
		{key: flagsKey, count: true},
	}
	totalSheet := "合计"
	if l == en {
		totalSheet = "total"
	}
	bySheet := "按" + levelName(lv, zh, false)
	if l == en {
		bySheet = "by " + lv.String()
	}
	t := &table.Table{Sheets: []table.Sheet{
		x.sheet(bySheet, rows, unitColumns(func(r *fastjson.Value) string { return names[textOf(r.Get("id"))] })),
		x.sheet(totalSheet, []*fastjson.Value{pa.root}, totalCols),
	}}
	v := versionSuffix(pa.version)
	return export(t, f, l, fileName{
		zh: "区域统计_按" + levelName(lv, zh, false) + "_" + v,
		en: "polygon-by-" + lv.String() + "-" + v,
	})
}

// unitNames returns the names of the units of a level by id (none for
// buildings, which have none).
func (a *Answers) unitNames(lv engine.Level) map[string]string {
	if lv >= engine.LevelBuilding {
		return nil
	}
	res, err := a.eng.Units(engine.UnitsQuery{Level: lv.String()})
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(res.Units))
	for _, u := range res.Units {
		out[u.ID] = u.Name
	}
	return out
}

// GridFile answers POST /api/v1/query/grid?format=csv|xlsx: one row per
// cell.
func (a *Answers) GridFile(body []byte, q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Grid(body, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	// what the cells are: units of a level, or squares of cell_m metres
	var level, cellM string
	if p2, o, err := a.parseBody(body); err == nil {
		level = string(o.Get("level").GetStringBytes())
		if v := o.Get("cell_m"); v != nil {
			cellM = strconv.FormatFloat(v.GetFloat64(), 'f', -1, 64)
		}
		a.parsers.Put(p2)
	}
	rows := pa.root.GetArray("cells")
	x := a.newExporter(l, pa.version, rows...)
	v := versionSuffix(pa.version)
	var sheet string
	var name fileName
	if lv, err := engine.ParseLevel(level); err == nil && level != "" {
		sheet = levelName(lv, l, true)
		name = fileName{zh: levelName(lv, zh, false) + "统计_" + v, en: "grid-by-" + lv.String() + "-" + v}
	} else {
		sheet = cellM + "米方格"
		if l == en {
			sheet = cellM + " m cells"
		}
		name = fileName{zh: "方格统计_" + cellM + "米_" + v, en: "grid-" + cellM + "m-" + v}
	}
	t := &table.Table{Sheets: []table.Sheet{x.sheet(sheet, rows, unitColumns(nil))}}
	return export(t, f, l, name)
}

// numberCell reads a decimal number (a rate) as the JSON shows it: a
// number, or null (or nothing) for an empty cell.
func numberCell(v *fastjson.Value) table.Cell {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return table.Cell{}
	}
	return table.NumberCell(v.GetFloat64())
}

// fileSafe makes free text (a campaign's label) fit a file name: no path
// separators, no characters Windows refuses, no control characters.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return -1
		case strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// ResponsibilityFile answers GET /api/v1/responsibility?format=csv|xlsx:
// the JSON answer's units, one row each: id, name, buildings, assigned,
// unassigned, matched_unassigned and, when ?stale= is given, stale.
func (a *Answers) ResponsibilityFile(q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Responsibility(q, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	lv, _ := engine.ParseLevel(textOf(pa.root.Get("level"))) // Responsibility checked it
	cols := []column{
		{key: "id", zh: "编号", en: "id"},
		{key: "name", zh: "名称", en: "name"},
		{key: "buildings", zh: "楼栋数", en: "buildings", count: true},
		{key: "assigned", zh: "已包干", en: "assigned", count: true},
		{key: "unassigned", zh: "未包干", en: "unassigned", count: true},
		{key: "matched_unassigned", zh: "未包干楼栋内符合条件户数", en: "matched_unassigned", count: true},
	}
	if q.Get("stale") != "" { // without it the JSON's stale is null: not asked
		cols = append(cols, column{key: "stale", zh: "超期未走访", en: "stale", count: true})
	}
	x := &exporter{lang: l}
	t := &table.Table{Sheets: []table.Sheet{x.sheet(levelName(lv, l, true), pa.root.GetArray("units"), cols)}}
	v := versionSuffix(pa.version)
	return export(t, f, l, fileName{
		zh: "包干覆盖_按" + levelName(lv, zh, false) + "_" + v,
		en: "responsibility-by-" + lv.String() + "-" + v,
	})
}

// progressColumns are the columns of a campaign's figures, after those
// naming the row.
var progressColumns = []column{
	{key: "total", zh: "任务总量", en: "total", count: true},
	{key: "done", zh: "已完成", en: "done", count: true},
	{key: "remaining", zh: "剩余任务量", en: "remaining", count: true},
	{key: "removed", zh: "已移除", en: "removed", count: true},
	{key: "rate_7d", zh: "日均", en: "rate_7d", number: true},
	{key: "eta", zh: "预计完成", en: "eta"},
}

// CampaignFile answers GET /api/v1/campaigns/{name}?level=…&format=csv|xlsx:
// the JSON answer's units in its order, one row each (id, name, total,
// done, remaining, removed, rate_7d, eta); a workbook adds a sheet of the
// campaign's own figures (the city's totals, with its definition) and one
// of its days.
func (a *Answers) CampaignFile(name string, q Query, c *Caller) (*File, error) {
	f, l, pa, err := a.exportAnswer(q, func() ([]byte, error) { return a.Campaign(name, q, c) })
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(pa.p)
	lv, _ := engine.ParseLevel(textOf(pa.root.Get("level"))) // Campaign checked it
	x := &exporter{lang: l}
	units := append([]column{{key: "id", zh: "编号", en: "id"}, {key: "name", zh: "名称", en: "name"}}, progressColumns...)
	head := append([]column{
		{key: "name", zh: "任务", en: "name"},
		{key: "label", zh: "任务名称", en: "label"},
		{key: "target", zh: "任务对象", en: "target"},
		{key: "goal", zh: "完成条件", en: "goal"},
		{key: "created", zh: "开始时间", en: "created"},
		{key: "deadline", zh: "截止日期", en: "deadline"},
	}, progressColumns...)
	days := []column{
		{key: "date", zh: "日期", en: "date"},
		{key: "done", zh: "累计完成", en: "done", count: true},
		{key: "done_today", zh: "当日完成", en: "done_today", count: true},
	}
	bySheet, totalSheet, daysSheet := "按"+levelName(lv, zh, false), "全市合计", "每日进度"
	if l == en {
		bySheet, totalSheet, daysSheet = "by "+lv.String(), "city total", "days"
	}
	t := &table.Table{Sheets: []table.Sheet{
		x.sheet(bySheet, pa.root.GetArray("units"), units),
		x.sheet(totalSheet, []*fastjson.Value{pa.root}, head),
		x.sheet(daysSheet, pa.root.GetArray("days"), days),
	}}
	label := fileSafe(textOf(pa.root.Get("label")))
	if label == "" {
		label = name
	}
	v := versionSuffix(pa.version)
	return export(t, f, l, fileName{
		zh: "专项任务_" + label + "_按" + levelName(lv, zh, false) + "_" + v,
		en: "campaign-" + name + "-by-" + lv.String() + "-" + v,
	})
}

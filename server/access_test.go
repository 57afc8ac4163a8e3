package server_test

import (
	"strings"
	"testing"

	"github.com/roomstate/roomstate/server"
)

// TestParseTokens: a tokens file is a JSON list of {name, token, role,
// scope} with no length rule: a short token is accepted (ShortTokens names
// its entry for a warning); an empty or repeated token, a repeated or empty
// name, an unknown role or scope level, and an editor without a scope are
// refused, naming the entry.
func TestParseTokens(t *testing.T) {
	ts, err := server.ParseTokens([]byte(`[
		{"name": "kiosk", "token": "abc", "role": "viewer"},
		{"name": "ops", "token": "a-long-random-token-0123456789", "role": "admin"},
		{"name": "street worker", "token": "s1", "role": "editor", "scope": {"street": ["陆家嘴街道"]}},
		{"name": "district office", "token": "长令牌", "role": "editor", "scope": {"district": ["浦东新区"], "grid": ["G0131"]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(server.ShortTokens(ts), ","); got != "kiosk,street worker,district office" {
		t.Fatalf("short tokens: %q", got)
	}
	if ts[2].Scope.Street[0] != "陆家嘴街道" || ts[3].Scope.District[0] != "浦东新区" {
		t.Fatalf("scopes: %+v", ts)
	}
	for _, c := range []struct{ file, want string }{
		{`[{"name": "x", "token": "", "role": "viewer"}]`, `tokens[0] (x): token is empty`},
		{`[{"name": "x", "role": "viewer"}]`, `tokens[0] (x): token is empty`},
		{`[{"name": "x", "token": "t", "role": "viewer"}, {"name": "y", "token": "t", "role": "admin"}]`, `tokens[1] (y): token used twice`},
		{`[{"name": "x", "token": "t", "role": "viewer"}, {"name": "x", "token": "u", "role": "admin"}]`, `tokens[1] (x): name appears twice`},
		{`[{"name": "", "token": "t", "role": "viewer"}]`, `tokens[0]: name is empty`},
		{`[{"name": "x", "token": "t", "role": "root"}]`, `tokens[0] (x): role "root": want viewer, analyst, editor or admin`},
		{`[{"name": "x", "token": "t", "role": "editor"}]`, `tokens[0] (x): an editor needs a scope`},
		{`[{"name": "x", "token": "t", "role": "editor", "scope": {"street": [" "]}}]`, `tokens[0] (x): scope.street holds an empty name`},
		{`[{"name": "x", "token": "t", "role": "editor", "scope": {"city": ["上海"]}}]`, `unknown field "city"`},
	} {
		if _, err := server.ParseTokens([]byte(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.file, err, c.want)
		}
	}
}

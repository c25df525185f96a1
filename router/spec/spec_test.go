package spec

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		head string
		opts []Option
		err  string
	}{
		{in: "/ws=topic:chat", head: "/ws=topic:chat"},
		{in: "/ws=topic:chat;", head: "/ws=topic:chat"},
		{in: "app=h:1;;balance=leastconn;", head: "app=h:1", opts: []Option{{Key: "balance", Value: "leastconn"}}},
		{in: "/api=backend:app;grip", head: "/api=backend:app", opts: []Option{{Key: "grip", Switch: true}}},
		{in: "a;k=v; sw ;x-y = 2s", head: "a", opts: []Option{{Key: "k", Value: "v"}, {Key: "sw", Switch: true}, {Key: "x-y", Value: "2s"}}},
		{in: "a;cookie=a=b", head: "a", opts: []Option{{Key: "cookie", Value: "a=b"}}},
		{in: "a;k=1;k=2", head: "a", opts: []Option{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}},
		{in: "a;=v", err: `option "=v": missing key before '='`},
		{in: "a;k=", err: `option "k=": want k=VALUE`},
		{in: "a;k= ", err: `option "k=": want k=VALUE`},
		{in: "a;h:2", err: `option "h:2": want key=value or a bare key`},
		{in: "a;Key=v", err: `option "Key=v": want key=value or a bare key`},
		{in: "a;a b=1", err: `option "a b=1": want key=value or a bare key`},
		{in: "a;k_v", err: `option "k_v": want key=value or a bare key`},
	} {
		head, opts, err := Cut(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Cut(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || head != tc.head || !reflect.DeepEqual(opts, tc.opts) {
			t.Errorf("Cut(%q) = %q, %+v, %v; want %q, %+v", tc.in, head, opts, err, tc.head, tc.opts)
		}
	}
}

func TestApply(t *testing.T) {
	type result struct {
		n    int
		on   bool
		name string
	}
	keys := func(r *result) []Key {
		return []Key{
			{Name: "n", Set: func(v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("n=%s: want an integer", v)
				}
				r.n = n
				return nil
			}},
			{Name: "on", Switch: true, Set: func(string) error { r.on = true; return nil }},
			{Name: "name", Set: func(v string) error { r.name = v; return nil }},
		}
	}
	for _, tc := range []struct {
		in   string
		want result
		err  string
	}{
		{in: "", want: result{}},
		{in: "n=3;on;name=x", want: result{3, true, "x"}},
		{in: "on", want: result{on: true}},
		{in: "n=x", err: `n=x: want an integer`},
		{in: "n", err: `option "n": want n=VALUE`},
		{in: "on=1", err: `option "on=1": on is a switch, write ;on without a value`},
		{in: "n=1;n=2", err: `option "n" given twice`},
		{in: "on;on", err: `option "on" given twice`},
		{in: "size=1", err: `unknown option "size" (want n, on or name)`},
		{in: "grip", err: `unknown option "grip" (want n, on or name)`},
	} {
		opts, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		var r result
		err = Apply(opts, keys(&r))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Apply(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r != tc.want {
			t.Errorf("Apply(%q) = %+v, %v; want %+v", tc.in, r, err, tc.want)
		}
	}
}

func TestApplyKnownList(t *testing.T) {
	opts := []Option{{Key: "x", Value: "1"}}
	for _, tc := range []struct {
		keys []Key
		want string
	}{
		{nil, `unknown option "x" (no options are defined yet)`},
		{[]Key{{Name: "a"}}, `unknown option "x" (want a)`},
		{[]Key{{Name: "a"}, {Name: "b"}}, `unknown option "x" (want a or b)`},
	} {
		if err := Apply(opts, tc.keys); err == nil || err.Error() != tc.want {
			t.Errorf("keys %v: %v, want %s", tc.keys, err, tc.want)
		}
	}
}

func TestOptionString(t *testing.T) {
	opts, err := Parse("a=1;b;c=x=y")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range opts {
		got = append(got, o.String())
	}
	if want := []string{"a=1", "b", "c=x=y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("String: %q, want %q", got, want)
	}
}

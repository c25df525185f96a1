package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for _, c := range []struct {
		raw, want string
		bad       bool // error other than ErrEmptyName
		empty     bool
	}{
		{raw: "lobby", want: "lobby"},
		{raw: "%C3%A9t%C3%A9", want: "été"},
		{raw: "été", want: "été"}, // raw UTF-8 in the target means the same
		{raw: "a%20b", want: "a b"},
		{raw: "a+b", want: "a+b"}, // '+' is not a space in a path
		{raw: "a%2Fb", bad: true},
		{raw: "a%2fb", bad: true},
		{raw: "a/b", bad: true},
		{raw: "%FF", bad: true},
		{raw: "%zz", bad: true},
		{raw: "%", bad: true},
		{raw: strings.Repeat("x", MaxNameBytes), want: strings.Repeat("x", MaxNameBytes)},
		{raw: strings.Repeat("x", MaxNameBytes+1), bad: true},
		{raw: strings.Repeat("%C3%A9", MaxNameBytes/2), want: strings.Repeat("é", MaxNameBytes/2)},
		{raw: strings.Repeat("%C3%A9", MaxNameBytes/2) + "x", bad: true},
		{raw: "", empty: true},
	} {
		got, err := Name(c.raw)
		switch {
		case c.empty:
			if !errors.Is(err, ErrEmptyName) {
				t.Errorf("Name(%q) = %q, %v; want ErrEmptyName", c.raw, got, err)
			}
		case c.bad:
			if err == nil || errors.Is(err, ErrEmptyName) {
				t.Errorf("Name(%q) = %q, %v; want an error", c.raw, got, err)
			}
		case err != nil || got != c.want:
			t.Errorf("Name(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		}
	}
}

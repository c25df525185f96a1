// Package spec is the one grammar of the options that follow a route or a
// pool in its flag value, after the first ';':
//
//	-route  '/api=backend:app;opt=val;switch'
//	-backend 'app=h1:80,h2:80;balance=leastconn;check=tcp'
//
// An option is `key=value`, or a bare `key` for a switch (like HAProxy's
// `check`). Keys are lower-case letters, digits and '-'. Empty items (a
// trailing ';', or ";;") are ignored. What each key means belongs to its
// caller, which lists its keys in a []Key; Apply checks and applies them, so
// every spec reports unknown, repeated or malformed options the same way.
package spec

import (
	"fmt"
	"strings"
)

// Option is one item after the first ';' of a spec.
type Option struct {
	Key    string
	Value  string // "" for a switch
	Switch bool   // written bare, ";key"
}

// String writes the option back as it is written in a spec.
func (o Option) String() string {
	if o.Switch {
		return o.Key
	}
	return o.Key + "=" + o.Value
}

// ItemError is a malformed option item; Item is the item as written.
type ItemError struct {
	Item    string
	Problem string
}

func (e *ItemError) Error() string { return fmt.Sprintf("option %q: %s", e.Item, e.Problem) }

// Cut splits a spec at its first ';' into the head (what comes before,
// untouched) and its options in order. Options with the same key are
// returned as given; Apply refuses the repeat.
func Cut(s string) (head string, opts []Option, err error) {
	head, rest, _ := strings.Cut(s, ";")
	opts, err = Parse(rest)
	return head, opts, err
}

// Parse parses the option items of a spec: what follows its first ';'.
func Parse(items string) ([]Option, error) {
	var opts []Option
	for item := range strings.SplitSeq(items, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue // tolerate a trailing ';' and ";;"
		}
		k, v, hasValue := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		switch {
		case k == "":
			return nil, &ItemError{item, "missing key before '='"}
		case !validKey(k):
			return nil, &ItemError{item, "want key=value or a bare key"}
		case hasValue && strings.TrimSpace(v) == "":
			return nil, &ItemError{item, "want " + k + "=VALUE"}
		}
		opts = append(opts, Option{Key: k, Value: strings.TrimSpace(v), Switch: !hasValue})
	}
	return opts, nil
}

func validKey(k string) bool {
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Key is one option a spec accepts.
type Key struct {
	Name string
	// Switch: the key is written bare (";name") and takes no value.
	Switch bool
	// Set applies the option; value is "" for a switch. Its error is
	// returned as is, so it should name the option ("inter=2: want a duration").
	Set func(value string) error
}

// Apply checks opts against keys and calls each key's Set in the order the
// options were given. It refuses an unknown key (naming the known ones), a
// key given twice, a value on a switch and a bare value key.
func Apply(opts []Option, keys []Key) error {
	seen := make(map[string]bool, len(opts))
	for _, o := range opts {
		k := find(keys, o.Key)
		switch {
		case k == nil:
			return fmt.Errorf("unknown option %q (%s)", o.Key, known(keys))
		case seen[o.Key]:
			return fmt.Errorf("option %q given twice", o.Key)
		case k.Switch && !o.Switch:
			return fmt.Errorf("option %q: %s is a switch, write ;%s without a value", o.String(), o.Key, o.Key)
		case !k.Switch && o.Switch:
			return fmt.Errorf("option %q: want %s=VALUE", o.Key, o.Key)
		}
		seen[o.Key] = true
		if err := k.Set(o.Value); err != nil {
			return err
		}
	}
	return nil
}

func find(keys []Key, name string) *Key {
	for i := range keys {
		if keys[i].Name == name {
			return &keys[i]
		}
	}
	return nil
}

// known lists the keys for an error message: "want a, b or c".
func known(keys []Key) string {
	switch len(keys) {
	case 0:
		return "no options are defined yet"
	case 1:
		return "want " + keys[0].Name
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return "want " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Package topic keeps the subscribers of broadcast topics. A Table belongs to
// one event loop and is only touched from it, so it needs no locks; the bus
// hands each loop every message once and the loop looks the topic up here.
package topic

// Member is a subscriber that stores its own position in its group, which makes
// Leave O(1) without a per-subscriber map entry.
type Member interface {
	comparable
	// GroupIndex returns a pointer to the member's slot index inside its group.
	GroupIndex() *int32
}

// Group is the set of one loop's subscribers of one topic.
type Group[M Member] struct {
	name     string
	members  []M
	messages uint64 // messages delivered to this group, for the stats page
}

// Delivered counts n more messages delivered to the group.
func (g *Group[M]) Delivered(n int) { g.messages += uint64(n) }

// Messages is the number of messages delivered to the group so far.
func (g *Group[M]) Messages() uint64 { return g.messages }

// Name is the topic's name.
func (g *Group[M]) Name() string { return g.name }

// Members returns the current subscribers. The slice is only valid until the
// next Join or Leave on the table.
func (g *Group[M]) Members() []M { return g.members }

// Len is the number of subscribers.
func (g *Group[M]) Len() int { return len(g.members) }

// Table maps topic names to groups. Not safe for concurrent use.
type Table[M Member] struct {
	groups map[string]*Group[M]
	size   int
}

// NewTable returns an empty table.
func NewTable[M Member]() *Table[M] {
	return &Table[M]{groups: make(map[string]*Group[M])}
}

// Join adds m to the topic name and returns its group.
func (t *Table[M]) Join(name string, m M) *Group[M] {
	g := t.groups[name]
	if g == nil {
		g = &Group[M]{name: name}
		t.groups[name] = g
	}
	*m.GroupIndex() = int32(len(g.members))
	g.members = append(g.members, m)
	t.size++
	return g
}

// Leave removes m from g (the group Join returned), by swapping the last member
// into its slot. An emptied group is dropped from the table.
func (t *Table[M]) Leave(g *Group[M], m M) {
	i := *m.GroupIndex()
	last := len(g.members) - 1
	if i < 0 || int(i) > last || g.members[i] != m {
		return // not a member: leaving twice is harmless
	}
	moved := g.members[last]
	g.members[i] = moved
	*moved.GroupIndex() = i
	var zero M
	g.members[last] = zero
	g.members = g.members[:last]
	*m.GroupIndex() = -1
	t.size--
	if len(g.members) == 0 {
		delete(t.groups, g.name)
	} else if cap(g.members) > 64 && len(g.members) < cap(g.members)/4 {
		// Give memory back after a big topic shrank (e.g. after a reconnect storm).
		g.members = append([]M(nil), g.members...)
	}
}

// Lookup returns the group of topic name, or nil when this loop has no subscriber.
func (t *Table[M]) Lookup(name string) *Group[M] { return t.groups[name] }

// Topics is the number of topics with at least one subscriber.
func (t *Table[M]) Topics() int { return len(t.groups) }

// Each calls fn for every group.
func (t *Table[M]) Each(fn func(*Group[M])) {
	for _, g := range t.groups {
		fn(g)
	}
}

// Subscribers is the number of memberships in the table.
func (t *Table[M]) Subscribers() int { return t.size }

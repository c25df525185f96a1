package topic

import "testing"

type sub struct {
	id  int
	idx int32
}

func (s *sub) GroupIndex() *int32 { return &s.idx }

func TestJoinLeave(t *testing.T) {
	tb := NewTable[*sub]()
	subs := make([]*sub, 5)
	var g *Group[*sub]
	for i := range subs {
		subs[i] = &sub{id: i}
		g = tb.Join("lobby", subs[i])
	}
	other := &sub{id: 99}
	og := tb.Join("other", other)
	if g.Len() != 5 || tb.Topics() != 2 || tb.Subscribers() != 6 {
		t.Fatalf("len=%d topics=%d subs=%d", g.Len(), tb.Topics(), tb.Subscribers())
	}
	tb.Leave(g, subs[1])
	tb.Leave(g, subs[1]) // twice is harmless
	tb.Leave(g, subs[4])
	got := map[int]bool{}
	for i, m := range g.Members() {
		if int(m.idx) != i {
			t.Fatalf("member %d has index %d", m.id, m.idx)
		}
		got[m.id] = true
	}
	if len(got) != 3 || !got[0] || !got[2] || !got[3] {
		t.Fatalf("members after leave: %v", got)
	}
	tb.Leave(og, other)
	if tb.Lookup("other") != nil || tb.Topics() != 1 {
		t.Fatal("empty group not dropped")
	}
	if tb.Lookup("lobby") != g {
		t.Fatal("lookup lost the group")
	}
}

package ilist

import "testing"

type item struct {
	link Link[*item]
}

func (it *item) ListLink() *Link[*item] { return &it.link }

func TestRemove(t *testing.T) {
	var ls List[*item]
	it := make([]*item, 4)
	for i := range it {
		it[i] = &item{}
		ls.Add(it[i]) // the list is 3 2 1 0
	}
	ls.Walk()
	if x, _ := ls.Next(); x != it[3] {
		t.Fatalf("walk starts at %p, want the last added %p", x, it[3])
	}
	// The cursor is on it[2], which goes away.
	ls.Remove(it[2])
	ls.Remove(it[2])   // twice: no effect
	ls.Remove(&item{}) // never added: no effect
	ls.Remove(it[3])   // the head
	ls.Remove(it[0])   // the tail
	if ls.Len() != 1 || ls.head != it[1] || it[1].link.prev != nil || it[1].link.next != nil {
		t.Fatalf("after removals: n=%d head=%p, want only %p unlinked from others", ls.Len(), ls.head, it[1])
	}
	if x, ok := ls.Next(); !ok || x != it[1] {
		t.Fatalf("cursor gave %p %v, want it moved on to %p", x, ok, it[1])
	}
	if ls.Walking() {
		t.Fatal("walk not over after the last element")
	}
	ls.Remove(it[1])
	if ls.Len() != 0 || ls.head != nil || ls.cursor != nil {
		t.Fatalf("emptied list: n=%d head=%p cursor=%p", ls.Len(), ls.head, ls.cursor)
	}
	ls.Add(it[1]) // a removed element can be added again
	ls.Walk()
	if x, ok := ls.Next(); !ok || x != it[1] || ls.Len() != 1 {
		t.Fatal("re-added element not in the list")
	}
}

func TestAllocs(t *testing.T) {
	var ls List[*item]
	it := make([]*item, 16)
	for i := range it {
		it[i] = &item{}
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, x := range it {
			ls.Add(x)
		}
		for ls.Walk(); ls.Walking(); {
			x, _ := ls.Next()
			ls.Remove(x)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

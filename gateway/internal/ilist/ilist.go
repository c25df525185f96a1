// Package ilist is an intrusive doubly linked list: the links live in the
// elements (a Link in each), so adding and removing cost O(1) and allocate
// nothing. A cursor walks the list while elements are removed (the walker
// may remove the element it just got, or any other). A List is not safe for
// concurrent use.
package ilist

// Link is embedded in an element: its place in a List. The zero value is
// unlinked.
type Link[T any] struct {
	next, prev *Link[T]
	owner      T // set by Add
	// No "linked" flag: a link is in the list when it has a predecessor or
	// is the head, and the 8 bytes it would take (padding included) are
	// 8 more in every connection.
}

// Element is what a List holds: a type (a pointer, in practice) whose values
// each carry their own Link.
type Element[T any] interface {
	ListLink() *Link[T]
}

// List is a list of elements, in reverse order of Add. The zero value is an
// empty list.
type List[T Element[T]] struct {
	head   *Link[T]
	n      int
	cursor *Link[T] // the next element Next returns; nil when not walking
}

// Len is the number of elements in the list.
func (ls *List[T]) Len() int { return ls.n }

// Add puts x, which must not be in a list, at the front.
func (ls *List[T]) Add(x T) {
	l := x.ListLink()
	*l = Link[T]{next: ls.head, owner: x}
	if ls.head != nil {
		ls.head.prev = l
	}
	ls.head = l
	ls.n++
}

// Remove takes x out of the list, if it is in; a cursor on x moves on. x must
// be in ls or in no list.
func (ls *List[T]) Remove(x T) {
	l := x.ListLink()
	if l.prev == nil && ls.head != l {
		return
	}
	if ls.cursor == l {
		ls.cursor = l.next
	}
	if l.prev != nil {
		l.prev.next = l.next
	} else {
		ls.head = l.next
	}
	if l.next != nil {
		l.next.prev = l.prev
	}
	*l = Link[T]{}
	ls.n--
}

// Walk starts a walk from the front; Next returns its elements.
func (ls *List[T]) Walk() { ls.cursor = ls.head }

// Walking says whether a walk has elements left.
func (ls *List[T]) Walking() bool { return ls.cursor != nil }

// Next returns the walk's next element and moves on; ok is false at the end.
func (ls *List[T]) Next() (x T, ok bool) {
	if ls.cursor == nil {
		return x, false
	}
	x = ls.cursor.owner
	ls.cursor = ls.cursor.next
	return x, true
}

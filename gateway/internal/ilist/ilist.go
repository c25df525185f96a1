// Package ilist is an intrusive doubly linked list: the links live in the
// elements (a Link in each), so adding and removing cost O(1) and allocate
// nothing. A cursor walks the list while elements are removed (the walker
// may remove the element it just got, or any other). A List is not safe for
// concurrent use.
package ilist

// Link is embedded in an element: its place in a List. The zero value is
// unlinked. It points at the neighbouring elements themselves (not at their
// links), so it needs no pointer back to its owner, and no "linked" flag (an
// element is in the list when it has a predecessor or is the head): 16
// bytes for a pointer type, in every connection.
type Link[T any] struct {
	next, prev T
}

// Element is what a List holds: a type (a pointer, in practice) whose values
// each carry their own Link; its zero value (nil) is no element.
type Element[T comparable] interface {
	comparable
	ListLink() *Link[T]
}

// List is a list of elements, in reverse order of Add. The zero value is an
// empty list.
type List[T Element[T]] struct {
	head   T
	n      int
	cursor T // the next element Next returns; zero when not walking
}

// Len is the number of elements in the list.
func (ls *List[T]) Len() int { return ls.n }

// Add puts x, which must not be in a list, at the front.
func (ls *List[T]) Add(x T) {
	var zero T
	*x.ListLink() = Link[T]{next: ls.head}
	if ls.head != zero {
		ls.head.ListLink().prev = x
	}
	ls.head = x
	ls.n++
}

// Remove takes x out of the list, if it is in; a cursor on x moves on. x must
// be in ls or in no list.
func (ls *List[T]) Remove(x T) {
	var zero T
	l := x.ListLink()
	if l.prev == zero && ls.head != x {
		return
	}
	if ls.cursor == x {
		ls.cursor = l.next
	}
	if l.prev != zero {
		l.prev.ListLink().next = l.next
	} else {
		ls.head = l.next
	}
	if l.next != zero {
		l.next.ListLink().prev = l.prev
	}
	*l = Link[T]{}
	ls.n--
}

// Walk starts a walk from the front; Next returns its elements.
func (ls *List[T]) Walk() { ls.cursor = ls.head }

// Walking says whether a walk has elements left.
func (ls *List[T]) Walking() bool {
	var zero T
	return ls.cursor != zero
}

// Next returns the walk's next element and moves on; ok is false at the end.
func (ls *List[T]) Next() (x T, ok bool) {
	var zero T
	if ls.cursor == zero {
		return x, false
	}
	x = ls.cursor
	ls.cursor = x.ListLink().next
	return x, true
}

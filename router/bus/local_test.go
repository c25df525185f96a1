package bus

import (
	"fmt"
	"sync"
	"testing"
)

func TestLocalTotalOrder(t *testing.T) {
	var got []string
	b := NewLocal(func(m Message) { got = append(got, string(m.Payload)) })
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := b.Publish("t", 1, []byte(fmt.Sprintf("%d-%d", p, i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != 400 {
		t.Fatalf("delivered %d, want 400", len(got))
	}
	// Per publisher, order is kept.
	next := map[byte]int{}
	for _, s := range got {
		var p, i int
		fmt.Sscanf(s, "%d-%d", &p, &i)
		if next[byte(p)] != i {
			t.Fatalf("publisher %d: got %d, want %d", p, i, next[byte(p)])
		}
		next[byte(p)]++
	}
	_ = b.Close()
	if err := b.Publish("t", 1, nil); err != ErrClosed {
		t.Fatalf("publish after close: %v", err)
	}
}

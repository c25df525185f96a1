package bus

import "testing"

// The in-process bus numbers each topic's messages 1, 2, … in one epoch per
// bus (process start), so positions of different topics do not interfere.
func TestLocalPositions(t *testing.T) {
	var got []Message
	b := NewLocal(func(m Message) { got = append(got, m) })
	for _, tp := range []string{"a", "b", "a", "a", "b"} {
		if err := b.Publish(tp, OpText, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{1, 1, 2, 3, 2}
	for i, m := range got {
		if m.Offset != want[i] || m.Epoch != b.Epoch() || m.Epoch == "" {
			t.Fatalf("message %d: offset %d epoch %q, want %d %q", i, m.Offset, m.Epoch, want[i], b.Epoch())
		}
	}
	if NewLocal(nil).Epoch() == b.Epoch() {
		t.Fatal("two buses share an epoch")
	}
}

// Every node computes the same epoch for a partition from what all see
// alike (cluster ID, Kafka topic, partition), and a different cluster or
// partition gives another one.
func TestKafkaEpochDerivation(t *testing.T) {
	mk := func(cluster, topic string) *Kafka {
		b := &Kafka{cfg: KafkaConfig{Topic: topic}}
		b.setCluster(cluster)
		parts := []int{0, 1, 2}
		b.parts.Store(&parts)
		return b
	}
	a, a2 := mk("c1", "wsgate.broadcast"), mk("c1", "wsgate.broadcast")
	if a.partitionEpoch(1) != a2.partitionEpoch(1) {
		t.Fatal("two nodes disagree on an epoch")
	}
	if a.partitionEpoch(1) == a.partitionEpoch(2) || a.partitionEpoch(1) == mk("c2", "wsgate.broadcast").partitionEpoch(1) ||
		a.partitionEpoch(1) == mk("c1", "other").partitionEpoch(1) {
		t.Fatal("different partitions or clusters share an epoch")
	}
	if _, _, ok := (&Kafka{}).Position("news"); ok {
		t.Fatal("a position before the partitions are known")
	}
}

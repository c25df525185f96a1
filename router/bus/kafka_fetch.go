package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// Reading a topic's past back from Kafka (lossless resume beyond a node's
// in-memory history): the bus's log is the store, no other is needed.

// Why a range cannot be fetched whole.
var (
	ErrEpochChanged = errors.New("the position's epoch is not the partition's")
	ErrRangeGone    = errors.New("the log no longer holds the range (retention)")
	ErrRangeFuture  = errors.New("the range ends beyond the partition's high-water mark")
	ErrRangeTooBig  = errors.New("the range is over its byte or message budget")
)

// Fetcher is a bus that can read a topic's past messages back.
type Fetcher interface {
	// Fetch calls fn, in order, with every message of topic whose offset
	// (in epoch) is in (after, upTo]; fn owns the payload. It fails when the
	// range cannot be read whole, after maxBytes of records or maxMsgs
	// messages of topic (0: no limit; negative: none), or when ctx ends.
	Fetch(ctx context.Context, topic, epoch string, after, upTo int64, maxBytes int64, maxMsgs int, fn func(Message)) error
}

// Fetch reads the range from the partition topic is keyed to, with plain
// Fetch requests (no reader, no consumer group). Records of other topics in
// the partition are skipped; a record written twice (a retried write that
// had succeeded) is skipped as the live reader does, by its publisher's
// sequence — within the range.
func (b *Kafka) Fetch(ctx context.Context, topic, epoch string, after, upTo int64, maxBytes int64, maxMsgs int, fn func(Message)) error {
	parts := b.parts.Load()
	if parts == nil || len(*parts) == 0 {
		return errors.New("kafka partitions not known yet")
	}
	p := b.balancer.Balance(kafka.Message{Key: []byte(topic)}, *parts...)
	if b.partitionEpoch(p) != epoch {
		return ErrEpochChanged
	}
	last := map[string]uint64{}
	var read int64
	msgs, idle := 0, 0
	for off := after + 1; off <= upTo; {
		if idle++; idle > 20 { // rounds without progress (control records only?)
			return fmt.Errorf("fetch partition %d at %d: no progress", p, off)
		}
		res, err := b.client.Fetch(ctx, &kafka.FetchRequest{Topic: b.cfg.Topic, Partition: p, Offset: off,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil {
			return fmt.Errorf("fetch partition %d at %d: %w", p, off, err)
		}
		switch {
		case errors.Is(res.Error, kafka.OffsetOutOfRange):
			if off < res.LogStartOffset || res.LogStartOffset < 0 {
				return ErrRangeGone
			}
			return ErrRangeFuture
		case res.Error != nil:
			return fmt.Errorf("fetch partition %d at %d: %w", p, off, res.Error)
		case res.LogStartOffset > after+1:
			return ErrRangeGone // records after `after` were deleted: some may have been topic's
		case res.HighWatermark <= upTo:
			return ErrRangeFuture
		}
		if res.Records == nil {
			continue
		}
		for {
			r, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("fetch partition %d: records: %w", p, err)
			}
			if r.Offset < off {
				continue // a batch starts before the offset asked for
			}
			if r.Offset > upTo {
				return nil
			}
			off, idle = r.Offset+1, 0
			if r.Key == nil || r.Key.Len() != len(topic) {
				continue
			}
			key, err := readBytes(r.Key)
			if err != nil || string(key) != topic {
				continue
			}
			val, err := readBytes(r.Value)
			if err != nil {
				return fmt.Errorf("fetch partition %d: record %d: %w", p, r.Offset, err)
			}
			read += int64(len(val))
			op, dup := recordMeta(r.Headers, last)
			if dup {
				continue
			}
			if msgs++; (maxBytes > 0 && read > maxBytes) || (maxMsgs != 0 && msgs > max(maxMsgs, 0)) {
				return ErrRangeTooBig
			}
			fn(Message{Topic: topic, OpCode: op, Payload: val, Offset: r.Offset, Epoch: epoch})
		}
	}
	return nil
}

func readBytes(b interface {
	io.Reader
	Len() int
}) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	s := make([]byte, b.Len())
	_, err := io.ReadFull(b, s)
	return s, err
}

// recordMeta reads a record's opcode and whether it repeats a sequence
// already seen from its publisher process (last: per origin/run).
func recordMeta(hs []kafka.Header, last map[string]uint64) (op OpCode, dup bool) {
	h := parseHeaders(hs)
	if h.hasSeq {
		key := h.origin + "/" + h.run
		if h.seq <= last[key] {
			return h.op, true
		}
		last[key] = h.seq
	}
	return h.op, false
}
